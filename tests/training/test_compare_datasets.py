"""compare across datasets and architectures (issue 22, item 11): a dataset column, each dataset's
runs together, no "activation=none" for a VGG, and a CSV that says what the table says."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cnnstudio.cli import main
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.training.records import EpochStats
from cnnstudio.training.experiments.compare import comparison_rows, csv_text, format_table, group_by_dataset, sort_rows
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.store.runs import RunWriter, list_runs


def _run(root: Path, name: str, *, arch: str, dataset: str, acc: float, **options: object) -> Path:
    config = TrainConfig(arch=arch, dataset=dataset, epochs=1, input_size=32, arch_options=dict(options))
    channels = 1 if dataset == "mnist-sample" else 3
    spec = DatasetSpec(name=dataset, channels=channels, classes=tuple("0123456789"), mean=(0.2,) * channels,
                       std=(0.3,) * channels, native_size=32)
    writer = RunWriter(root / name)
    writer.start(config, spec.to_dict())
    writer.append_metrics(EpochStats(epoch=1, epochs=1, train_loss=1.0, train_acc=acc, val_loss=1.0, val_acc=acc,
                                     val_top5=None, lr=0.01, seconds=1.0, images_per_s=100.0, is_best=True).to_row())
    writer.save_last({"epoch": 1})
    writer.finish("finished")
    return root / name


def _mixed(root: Path) -> list:
    _run(root, "a_lenet_relu", arch="lenet5", dataset="mnist-sample", acc=0.90, activation="relu")
    _run(root, "b_lenet_tanh", arch="lenet5", dataset="mnist-sample", acc=0.60, activation="tanh")
    _run(root, "c_vgg", arch="vgg11", dataset="cifar10", acc=0.80)
    _run(root, "d_lenet_sig", arch="lenet5", dataset="mnist-sample", acc=0.70, activation="sigmoid")
    return list_runs(root)


def test_a_vgg_among_lenets_does_not_differ_in_options_it_lacks(tmp_path: Path) -> None:
    rows = {r.name: r for r in comparison_rows(_mixed(tmp_path))}
    vgg = rows["c_vgg"]
    assert "none" not in vgg.differs_text and "activation" not in vgg.distinct_text
    assert "activation=" in rows["a_lenet_relu"].differs_text


def test_the_csv_says_what_the_table_says(tmp_path: Path) -> None:
    rows = sort_rows(comparison_rows(_mixed(tmp_path)))
    table = format_table(rows).splitlines()[2:]
    written = list(csv.DictReader(io.StringIO(csv_text(rows))))
    for row, line, record in zip(rows, table, written):
        assert record["differs"] == row.distinct_text and row.distinct_text in line


def test_runs_of_several_datasets_are_listed_by_dataset_with_its_column(tmp_path: Path, capsys) -> None:
    rows = group_by_dataset(sort_rows(comparison_rows(_mixed(tmp_path))))
    assert [r.name for r in rows] == ["a_lenet_relu", "d_lenet_sig", "b_lenet_tanh", "c_vgg"]  # ranked among their own
    header = format_table(rows).splitlines()[0].split()
    assert header[:3] == ["run", "dataset", "differs"]
    assert main(["compare", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "dataset"]
    assert [line.split()[0] for line in lines[2:]] == ["a_lenet_relu", "d_lenet_sig", "b_lenet_tanh", "c_vgg"]
    assert lines[-1].split()[1] == "cifar10"
    one = [r for r in rows if r.dataset == "mnist-sample"]
    assert "dataset" not in format_table(one).splitlines()[0]  # one dataset: no column for it
