"""Run folders: names, listing (broken folders skipped), opening, rebuilding a trained model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnstudio.training.store import runs
from cnnstudio.errors import CheckpointError
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import tiny_config


def test_new_run_dirs_are_named_by_time_arch_and_dataset_and_never_collide(tmp_path: Path) -> None:
    first = runs.new_run_dir(tmp_path, arch="lenet5", dataset="mnist-sample")
    second = runs.new_run_dir(tmp_path, arch="lenet5", dataset="mnist-sample")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_lenet5_mnist-sample", first.name)
    assert second != first and second.is_dir() and second.name.startswith(first.name[:19])
    folder_run = runs.new_run_dir(tmp_path, arch="vgg16", dataset=str(tmp_path / "my photos") + "/")
    assert folder_run.name.endswith("_vgg16_my-photos")


def test_default_runs_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "elsewhere"))
    assert runs.default_runs_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("CNNSTUDIO_RUNS")
    assert runs.default_runs_dir().name == "runs"


def test_a_trainer_without_run_dir_writes_under_the_default_root(tmp_path: Path, bundle,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path))
    result = Trainer(tiny_config(epochs=1), bundle=bundle).fit()
    assert Path(result.run_dir).parent == tmp_path
    # Named after the variant trained: tiny_config's ReLU + max-pool LeNet-5.
    assert Path(result.run_dir).name.endswith("_lenet5-relu-maxpool_blocks")


def test_list_runs_lists_broken_folders_after_the_readable_ones(tmp_path: Path, bundle) -> None:
    Trainer(tiny_config(epochs=1), run_dir=tmp_path / "a", bundle=bundle).fit()
    Trainer(tiny_config(epochs=2), run_dir=tmp_path / "b", bundle=bundle).fit()
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "config.json").write_text("{not json")
    (tmp_path / "alien").mkdir()
    (tmp_path / "alien" / "config.json").write_text(json.dumps({"colour": "blue"}))
    (tmp_path / "stray.txt").write_text("not a folder")
    listed = runs.list_runs(tmp_path)
    readable = [r for r in listed if r.readable]
    assert sorted(r.name for r in readable) == ["a", "b"] and listed[:2] == readable
    # Folders with run files that cannot be read come after, each saying why; "empty" is no run at all.
    problems = {r.name: r.problem for r in listed if not r.readable}
    assert set(problems) == {"garbage", "alien"}
    assert problems["garbage"].startswith("config.json is not valid JSON")
    assert problems["alien"].startswith("config.json: arch is missing")
    by_name = {r.name: r for r in readable}
    assert by_name["b"].epochs_done == 2 and by_name["b"].epochs == 2 and by_name["b"].status == "finished"
    assert by_name["b"].arch == "lenet5" and by_name["b"].dataset == "blocks" and by_name["b"].created is not None
    assert 0.0 <= by_name["b"].best_val_acc <= 1.0
    assert runs.list_runs(tmp_path / "does-not-exist") == []


def test_open_run_explains_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no run folder at"):
        runs.open_run(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="is not a cnnstudio run folder"):
        runs.open_run(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match=r"config\.json is not valid JSON"):
        runs.open_run(tmp_path)


def test_open_run_gives_config_spec_and_metrics(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=2), run_dir=run_dir, bundle=bundle).fit()
    info = runs.open_run(run_dir)
    assert info.config.arch == "lenet5" and info.config.epochs == 2
    assert info.spec == bundle.spec
    assert [row["epoch"] for row in info.metrics()] == [1, 2]
    assert info.best_val_acc == max(row["val_acc"] for row in info.metrics())


def test_a_cut_short_metrics_line_is_ignored(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=2), run_dir=run_dir, bundle=bundle).fit()
    with (run_dir / "metrics.jsonl").open("a") as handle:
        handle.write('{"epoch": 3, "val_a')  # a crash mid-append
    info = runs.open_run(run_dir)
    assert len(info.metrics()) == 2 and info.epochs_done == 2


def test_load_model_rebuilds_the_trained_network(run_dir: Path, bundle) -> None:
    trainer = Trainer(tiny_config(epochs=2), run_dir=run_dir, bundle=bundle)
    trainer.fit()
    model, spec, config = runs.load_model(run_dir, which="last")
    assert not model.training and spec.classes == bundle.spec.classes and config.input_size == 16
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    best, _, _ = runs.load_model(runs.open_run(run_dir))  # best.pt, written at the best epoch
    assert set(best.state_dict()) == set(model.state_dict())
    best_checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    assert "optimizer" not in best_checkpoint  # inference weights only: small


def test_listing_runs_does_not_import_torch(tmp_path: Path) -> None:
    code = ("import sys; from cnnstudio.training.store import runs; runs.list_runs(sys.argv[1]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
