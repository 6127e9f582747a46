"""`ModelHandle` holds the engine's `TrainedModel` (issue 19, part 4): nothing copied field by field,
a run's checkpoint kept, and the Runs → Evaluate path opens a run once."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.gui.state import ModelHandle
from cnnstudio.inspect import inputs
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config


@pytest.fixture
def run(tmp_path: Path) -> Path:
    Trainer(tiny_config(epochs=1), run_dir=tmp_path / "run", bundle=make_bundle()).fit()
    return tmp_path / "run"


def test_a_handle_holds_the_trained_model_it_was_given(run: Path) -> None:
    trained = inputs.TrainedModel.from_run(run, which="best")
    handle = ModelHandle.from_trained(trained, source="run · best", epoch=1)
    assert handle.trained() is trained and handle.model is trained.model and handle.spec is trained.spec
    assert handle.run_dir == str(run) and handle.config == trained.config and handle.arch_name == "lenet5"
    with pytest.raises(AttributeError):
        handle.source = "changed"


def test_a_handle_of_parts_is_one_trained_model(run: Path) -> None:
    trained = inputs.TrainedModel.from_run(run)
    handle = ModelHandle(trained.model, trained.spec, 16, 1, source="live · epoch 1")
    assert handle.trained().model is trained.model and handle.input_size == 16 and handle.run_dir is None
    assert handle.describe().endswith("live · epoch 1")


def test_runs_then_evaluate_opens_the_run_once(run: Path, monkeypatch) -> None:
    from cnnstudio.gui.inspection import evaluate_tab
    from cnnstudio.inspect import evaluate

    opened: list[str] = []
    real = inputs.TrainedModel.from_run.__func__

    def counting(cls, where, *, which="best", device="cpu"):
        opened.append(which)
        return real(cls, where, which=which, device=device)

    monkeypatch.setattr(inputs.TrainedModel, "from_run", classmethod(counting))
    monkeypatch.setattr(evaluate, "validation_data", lambda config, classes, cancel: "split")
    monkeypatch.setattr(evaluate, "evaluate", lambda trained, data, tta, progress, cancel: ("evaluated", trained))
    evaluate_tab._SPLITS.clear()
    handle = ModelHandle.from_run(run, "best")  # what the Runs tab's Open does (in the background)
    assert opened == ["best"]
    trained, _ = evaluate_tab._evaluate(handle, "best", "none", progress=None, cancel=None)
    assert trained is handle.trained() and opened == ["best"]  # the weights on hand, not the run again
    trained, _ = evaluate_tab._evaluate(handle, "last", "none", progress=None, cancel=None)
    assert trained.checkpoint.stem == "last" and opened == ["best", "last"]  # other weights: loaded
    evaluate_tab._SPLITS.clear()
