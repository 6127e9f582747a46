"""The Evaluate tab: a run's own split evaluated, a cell opened, an image explained, a job cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.evaluation import train_run, write_blocks_folder

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.evaluate_tab import EvaluateTab
from cnnstudio.training.store.runs import open_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")
    return train_run(tmp_path_factory.mktemp("runs") / "run", folder, epochs=1)


@pytest.fixture
def tab(qtbot, state, run_dir):
    widget = EvaluateTab(state)
    qtbot.addWidget(widget)
    widget.show()
    with qtbot.waitSignal(state.model_changed, timeout=20_000):
        state.run_in_background(ModelHandle.from_run, str(run_dir), "best",
                                on_done=lambda handle: setattr(state, "model_handle", handle))
    yield widget
    state.wait_for_background()


def test_the_tab_evaluates_the_runs_own_split_and_opens_a_cell(tab, qtbot, run_dir):
    assert "run run · best weights (epoch 1)" in tab.model_label.text()
    tab.evaluate()
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=30_000)
    evaluation = tab.evaluation
    recorded = open_run(run_dir).history()[-1].val_acc
    assert evaluation.top1 == pytest.approx(recorded)  # the split it trained with, the same transform
    assert "top-1" in tab.summary_label.text() and not tab.running
    # Any cell lists exactly its samples, most confident first.
    true, pred = (c.true, c.pred) if (c := next(iter(evaluation.top_confusions(1)), None)) else (0, 0)
    tab.show_cell(true, pred)
    expected = [int(i) for i in evaluation.cell(true, pred)]
    qtbot.waitUntil(lambda: tab.cell_images() == expected, timeout=10_000)
    # An image of it is explained: its input shown, a top-5 naming the explained class.
    tab.open_image(0)
    qtbot.waitUntil(lambda: bool(tab.detail.top5()), timeout=20_000)
    assert tab.detail.prepared and tab.detail.seen_view.image is not None
    assert any("explained" in row for row in tab.detail.top5())
    assert tab.detail.cam_view.image is not None
    # Its nearest training images, captioned by Qt under each thumbnail; the image itself first, framed.
    from cnnstudio.gui.inspection.image_detail import NEIGHBOURS_K

    neighbours = tab.detail.neighbours_view
    tab.detail.neighbours_button.click()
    qtbot.waitUntil(lambda: neighbours.count() > 0, timeout=30_000)
    assert neighbours.count() == 1 + NEIGHBOURS_K
    assert neighbours.item_data(0) is None and neighbours.item(0).text() == "this image"
    classes = set(evaluation.classes)
    for row in range(1, neighbours.count()):
        name, distance = neighbours.item(row).text().split("\n")
        assert name in classes and distance.startswith("d = ")
        assert isinstance(neighbours.item_data(row), int)


def test_cancel_ends_an_evaluation_with_a_message(tab, qtbot, monkeypatch):
    import cnnstudio.inspect.evaluate as evaluate_module

    real = evaluate_module.evaluate

    def slow(*args, cancel=None, **kwargs):  # holds the job until Cancel is pressed
        import time

        deadline = time.monotonic() + 10
        while not cancel() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(*args, cancel=cancel, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", slow)
    tab.evaluate()
    assert tab.running and tab.cancel_button.isEnabled()
    tab.cancel()
    qtbot.waitUntil(lambda: not tab.running, timeout=20_000)
    assert tab.summary_label.text() == "Evaluation cancelled." and tab.evaluation is None
    assert tab.evaluate_button.isEnabled()
