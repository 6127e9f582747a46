"""The tricks study at any width (issue 20, part 3): the preset and `sweep --study --width`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training.config import default_config
from cnnstudio.training.experiments.queue import TrainingQueue
from cnnstudio.training.experiments.sweep import study_base, tricks_study


def test_every_run_of_the_study_has_the_width() -> None:
    study = tricks_study(default_config("tricks").replace(dataset="mnist-sample"), width=0.25)
    assert len(study) == 8
    assert all(run.config.arch_options.get("width") == 0.25 for run in study)
    assert study[1].config.arch_options == {"batch_norm": True, "width": 0.25}
    assert study[7].config.arch_options == {"all_tricks": True, "width": 0.25}
    # The notes' width adds nothing: the study is the one it was.
    assert tricks_study(default_config("tricks"), width=1.0)[0].config.arch_options == {}


def test_the_form_s_width_stays_while_its_switches_reset() -> None:
    base = default_config("tricks").replace(arch_options={"gap": True, "width": 0.5})
    assert study_base(base).arch_options == {"width": 0.5}
    assert tricks_study(base)[2].config.arch_options == {"batch_norm": True, "width": 0.5, "activation": "leaky_relu"}


def test_sweep_study_width_queues_eight_quarter_width_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import cnnstudio.cli as cli

    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(cli, "_run_queue", lambda queue: True)  # queued, not trained
    assert main(["sweep", "--study", "--width", "0.25", "--dataset", "mnist-sample", "--epochs", "1"]) == 0
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if "_sweep-" in p.name]
    queue = TrainingQueue.load(folder)
    assert [item.config.arch_options["width"] for item in queue.items] == [0.25] * 8
    assert "at width 0.25" in queue.title


@pytest.mark.parametrize(("args", "words"), [
    (["--vary", "lr=0.1,0.01", "--arch", "tricks", "--width", "0.5"], "--width sizes the tricks study"),
    (["--study", "--width", "0"], "width must be between"),
])
def test_a_bad_width_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 args: list[str], words: str) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    assert main(["sweep", *args, "--dataset", "mnist-sample"]) == 2
    assert words in capsys.readouterr().err
