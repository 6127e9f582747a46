"""No view shows what belongs to an earlier evaluation or fit (issue 22, item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.evaluation import train_run, write_blocks_folder  # noqa: E402

from cnnstudio.gui.training.session import FitRequest, TrainingSession  # noqa: E402
from cnnstudio.gui.state import ModelHandle  # noqa: E402
from cnnstudio.training.records import EpochStats  # noqa: E402
from cnnstudio.training.config import default_config  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    folder = write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")
    runs = tmp_path_factory.mktemp("runs")
    return train_run(runs / "first", folder, epochs=1), train_run(runs / "second", folder, epochs=1)


def _open(state, qtbot, run_dir: Path) -> None:
    with qtbot.waitSignal(state.model_changed, timeout=20_000):
        state.run_in_background(ModelHandle.from_run, str(run_dir), "best",
                                on_done=lambda handle: setattr(state, "model_handle", handle))


def test_evaluating_another_run_clears_the_previous_runs_image_and_heat_map(qtbot, state, two_runs) -> None:
    from cnnstudio.gui.inspection.evaluate_tab import EvaluateTab

    tab = EvaluateTab(state)
    qtbot.addWidget(tab)
    tab.show()
    first, second = two_runs
    _open(state, qtbot, first)
    tab.evaluate()
    qtbot.waitUntil(lambda: tab.evaluation is not None and not tab.running, timeout=30_000)
    tab.show_cell(0, 0)
    qtbot.waitUntil(lambda: tab.cell_list.count() > 0, timeout=10_000)
    tab.open_image(0)
    qtbot.waitUntil(lambda: tab.detail.cam_view.image is not None, timeout=20_000)
    old_caption = tab.detail.caption_label.text()
    assert old_caption.startswith("Validation image")

    _open(state, qtbot, second)
    evaluated = tab.evaluation
    tab.evaluate()
    assert tab.detail.caption_label.text() != old_caption  # at once, not after the new result
    qtbot.waitUntil(lambda: tab.evaluation is not evaluated and not tab.running, timeout=30_000)
    state.wait_for_background(deliver=True)
    assert tab.detail.cam_view.image is None and tab.detail.seen_view.image is None
    assert not tab.detail.prepared and tab.detail.top5() == []
    assert not tab.detail.caption_label.text().startswith("Validation image")


def _epoch(epoch: int) -> EpochStats:
    return EpochStats(epoch=epoch, epochs=3, train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.5, val_top5=0.9,
                      lr=0.01, seconds=1.0, images_per_s=100.0, is_best=False)


def test_a_resumed_runs_past_is_not_drawn_beside_the_next_fit(qtbot, state) -> None:
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = TrainingTab(state, TrainingSession(state))
    qtbot.addWidget(tab)
    config = default_config("lenet5")
    tab._on_preparing(FitRequest(config, run_dir="a", resume=True, label="run a", history=(_epoch(1), _epoch(2))))
    assert list(tab.overlays) == ["run a (before resume)"]
    tab.add_overlay("run b", [_epoch(1)])  # the user's own "Beside live curves"
    tab._on_preparing(FitRequest(config))  # a new fit of something else
    assert list(tab.overlays) == ["run b"]  # the resumed run's dashes went; the user's overlay stays
    assert "run a" not in tab.overlay_hint.text() and tab.clear_overlays_button.isVisibleTo(tab)
    tab.clear_overlays()
    tab._on_preparing(FitRequest(config, run_dir="c", resume=True, label="run c", history=(_epoch(1),)))
    tab._on_preparing(FitRequest(config))
    assert tab.overlays == {} and not tab.overlay_hint.isVisibleTo(tab)
