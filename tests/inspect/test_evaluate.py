"""Evaluation: records per sample, the figures made from them, TTA, ensembles and the run's own split."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.data.loaders import ImageSet
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.data.transforms import crop_source_size, to_model_input
from cnnstudio.errors import Cancelled, DatasetError
from cnnstudio.inspect.evaluate import (
    TTA_MODES,
    EnsembleError,
    EvalData,
    Evaluation,
    check_same_classes,
    combine,
    compare,
    eval_data,
    evaluate,
    load_eval_data,
    multiscale_sizes,
    validation_data,
)
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.inspect.report import format_comparison, format_evaluation
from cnnstudio.models.registry import build_model
from cnnstudio.training.store.runs import open_run

pytestmark = pytest.mark.usefixtures("one_thread")


def _handmade(probs: list[list[float]], labels: list[int], classes=("cat", "dog", "fox")) -> Evaluation:
    p = np.asarray(probs, dtype=np.float32)
    return Evaluation.from_probs(p, np.asarray(labels), np.arange(len(labels)), classes=classes, tta="none",
                                 models=("m",))


@pytest.mark.parametrize("which", ["best", "last"])
def test_tta_none_top1_equals_the_validation_top1_the_run_recorded(tiny_run: Path, which: str) -> None:
    info = open_run(tiny_run)
    rows = info.metrics()
    recorded = max(r["val_acc"] for r in rows) if which == "best" else rows[-1]["val_acc"]
    trained = TrainedModel.from_run(tiny_run, which=which)
    data = load_eval_data([trained])
    ev = evaluate(trained, data, tta="none")
    assert ev.samples == len(data) == 20  # 5 classes × 14 images, round(14 / 4) = 4 of each held out
    assert ev.top1 == pytest.approx(recorded, abs=1e-9)


def test_the_run_split_is_the_trainers_split(tiny_run: Path) -> None:
    from cnnstudio.training.fit.training_data import load_training_data

    config = open_run(tiny_run).config
    bundle = load_training_data(config)
    data = validation_data(tiny_run)
    assert torch.equal(data.images.images, bundle.val.images)
    assert torch.equal(data.labels, bundle.val.labels)
    assert "seed 0" in data.description and "25 % held out" in data.description


def test_confusion_has_a_row_for_every_class_and_metrics_say_none_for_zero_over_zero() -> None:
    # Two cats (one called dog), two dogs (both right); nobody is a fox and nothing is called fox.
    ev = _handmade([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3]], [0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value in divide" on the empty class
        matrix = ev.confusion()
        metrics = ev.class_metrics()
        normalised = {n: ev.confusion(n) for n in ("true", "pred", "all")}
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    fox = metrics[2]
    assert (fox.support, fox.predicted, fox.precision, fox.recall, fox.f1) == (0, 0, None, None, None)
    cat, dog = metrics[0], metrics[1]
    assert (cat.precision, cat.recall) == (1.0, 0.5) and cat.f1 == pytest.approx(2 / 3)
    assert (dog.precision, dog.recall) == (pytest.approx(2 / 3), 1.0)
    assert normalised["true"].tolist() == [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 0]]
    assert normalised["pred"][:, 1].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    assert normalised["all"].sum() == pytest.approx(1.0)
    assert all(np.isfinite(m).all() for m in normalised.values())
    assert ev.top1 == 0.75 and ev.top5 is None  # below five classes, as the trainer records it
    text = format_evaluation(ev)
    fox_line = next(line for line in text.splitlines() if line.startswith("fox"))
    assert fox_line.split()[-3:] == ["–", "–", "–"]
    assert "nan" not in text.lower()
    assert "cat → dog  1  (50.0 %)" in text


def test_records_and_the_largest_confusions_and_one_cells_images_most_confident_first() -> None:
    probs = [[0.1, 0.9, 0.0], [0.4, 0.6, 0.0], [0.2, 0.7, 0.1], [0.0, 0.1, 0.9], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]
    ev = _handmade(probs, [0, 0, 0, 1, 1, 2])
    r = ev.records
    assert r["pred"].tolist() == [1, 1, 1, 2, 2, 0]
    assert r["p_pred"].tolist() == pytest.approx([0.9, 0.6, 0.7, 0.9, 0.8, 0.6])
    assert r["p_true"].tolist() == pytest.approx([0.1, 0.4, 0.2, 0.1, 0.1, 0.1])
    assert r["top5"][0].tolist() == [1, 0, 2]
    top = ev.top_confusions()
    assert [(c.true_name, c.pred_name, c.count) for c in top] == [("cat", "dog", 3), ("dog", "fox", 2), ("fox", "cat", 1)]
    assert top[0].fraction == 1.0
    assert ev.cell("cat", "dog").tolist() == [0, 2, 1]  # p 0.9, 0.7, 0.6
    assert ev.cell(1, 2).tolist() == [3, 4]
    assert ev.cell("cat", "cat").tolist() == []


def test_flip_and_ten_crops_average_the_softmax_of_exactly_those_views() -> None:
    torch.manual_seed(0)
    spec = DatasetSpec("t", 1, ("a", "b", "c"), (0.3,), (0.2,), 20)
    model = build_model("lenet5", in_channels=1, num_classes=3)
    trained = TrainedModel(model, spec, input_size=16, in_channels=1, name="m")
    images = torch.randint(0, 255, (4, 1, 20, 20), dtype=torch.uint8)
    data = EvalData(ImageSet(torch.tensor([0, 1, 2, 0]), images), spec.classes, "four images")
    with torch.no_grad():
        x = to_model_input(images, spec, input_size=16, in_channels=1)
        flip = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
        big = to_model_input(images, spec, input_size=crop_source_size(16), in_channels=1)
        s, b = 16, big.shape[-1]
        crops = [big[..., :s, :s], big[..., :s, b - s:], big[..., b - s:, :s], big[..., b - s:, b - s:],
                 big[..., (b - s) // 2:(b - s) // 2 + s, (b - s) // 2:(b - s) // 2 + s]]
        crops += [c.flip(-1) for c in crops]
        ten = torch.stack([model(c).softmax(1) for c in crops]).mean(0)
    assert np.allclose(evaluate(trained, data, tta="flip").probs, flip.numpy(), atol=1e-6)
    assert np.allclose(evaluate(trained, data, tta="tencrop").probs, ten.numpy(), atol=1e-6)
    for tta in TTA_MODES:
        probs = evaluate(trained, data, tta=tta).probs
        assert probs.shape == (4, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_multiscale_sizes_are_vggs_for_224_and_scale_down_for_small_inputs() -> None:
    assert multiscale_sizes(224) == (224, 256, 288)
    small = multiscale_sizes(32)
    assert small[0] >= 32 and small[0] < small[1] < small[2]


def test_an_ensemble_averages_its_members_and_refuses_other_classes(tmp_path: Path, tiny_run: Path,
                                                                    blocks_folder: Path) -> None:
    second = train_run(tmp_path / "second", blocks_folder, seed=0, lr=0.08)
    a, b = TrainedModel.from_run(tiny_run), TrainedModel.from_run(second)
    data = load_eval_data([a, b])
    both = evaluate([a, b], data)
    one, two = evaluate(a, data), evaluate(b, data)
    assert np.allclose(both.probs, (one.probs + two.probs) / 2, atol=1e-6)
    assert np.allclose(combine([one, two]).probs, both.probs, atol=1e-6)

    other = write_blocks_folder(tmp_path / "other", classes=CLASSES[:4] + ("f-elsewhere",))
    stranger = TrainedModel.from_run(train_run(tmp_path / "stranger", other))
    with pytest.raises(EnsembleError, match="e-centre.*f-elsewhere"):
        check_same_classes([a, stranger])
    with pytest.raises(EnsembleError, match="different classes"):
        evaluate([a, stranger], data)


def test_runs_validated_on_different_splits_are_not_averaged_on_either(tmp_path: Path, tiny_run: Path,
                                                                       blocks_folder: Path) -> None:
    reseeded = TrainedModel.from_run(train_run(tmp_path / "seed1", blocks_folder, seed=1))
    with pytest.raises(EnsembleError, match="different splits.*seed 0.*seed 1"):
        load_eval_data([TrainedModel.from_run(tiny_run), reseeded])
    # On common ground they can be compared: the whole folder, every image once.
    data = load_eval_data([TrainedModel.from_run(tiny_run), reseeded], blocks_folder)
    assert len(data) == 70 and "the folder" in data.description


def test_another_folder_is_relabelled_in_the_runs_class_order_or_refused(tmp_path: Path) -> None:
    folder = write_blocks_folder(tmp_path / "f", per_class=2)
    backwards = tuple(reversed(CLASSES))
    data = eval_data(folder, backwards, store_size=16)
    names = [backwards[i] for i in data.labels.tolist()]
    assert names == [c for c in CLASSES for _ in range(2)]  # files come class by class, sorted
    shutil.copytree(folder / CLASSES[0], folder / "zebra")
    with pytest.raises(DatasetError, match="'zebra'"):
        eval_data(folder, CLASSES, store_size=16)


def test_progress_counts_images_and_cancel_stops_before_the_next_batch() -> None:
    spec = DatasetSpec("t", 1, ("a", "b"), (0.3,), (0.2,), 16)
    model = build_model("lenet5", in_channels=1, num_classes=2).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = TrainedModel(model, spec, input_size=16, in_channels=1)
    data = EvalData(ImageSet(torch.zeros(10, dtype=torch.int64), torch.zeros(10, 1, 16, 16, dtype=torch.uint8)),
                    spec.classes, "zeros")
    seen: list[tuple[int, int]] = []
    evaluate(trained, data, batch_size=4, progress=lambda d, t, _m: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    assert model.training  # evaluation switched it to eval only for the pass
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        evaluate(trained, data, batch_size=4, cancel=lambda: next(calls))


def test_compare_gives_one_row_per_setting_and_an_ensemble_row(tmp_path: Path, tiny_run: Path,
                                                              blocks_folder: Path) -> None:
    a = TrainedModel.from_run(tiny_run)
    b = TrainedModel.from_run(train_run(tmp_path / "b", blocks_folder, lr=0.08))
    data = load_eval_data([a, b])
    rows, results = compare([a, b], data, ("none", "multiscale"))
    assert [(r.model, r.tta) for r in rows] == [(a.name, "none"), (b.name, "none"), ("ensemble of 2", "none"),
                                                (a.name, "multiscale"), (b.name, "multiscale"),
                                                ("ensemble of 2", "multiscale")]
    assert rows[0].top1 == results[(a.name, "none")].top1
    text = format_comparison(rows)
    assert "three scales (VGG)" in text and "ensemble of 2" in text and "top-1 err" in text
