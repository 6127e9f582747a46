"""Counts and class names never read as "2 out of 3" (issue 22, item 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.evaluation import train_run, write_blocks_folder  # noqa: E402

from cnnstudio.gui.state import ModelHandle  # noqa: E402
from cnnstudio.gui.inspection.evaluate_tab import EvaluateTab  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")
    return train_run(tmp_path_factory.mktemp("runs") / "run", folder, epochs=1)


def test_the_cell_and_the_hover_name_the_classes_as_classes(qtbot, state, run_dir) -> None:
    tab = EvaluateTab(state)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(state.model_changed, timeout=20_000):
        state.run_in_background(ModelHandle.from_run, str(run_dir), "best",
                                on_done=lambda handle: setattr(state, "model_handle", handle))
    tab.evaluate()
    qtbot.waitUntil(lambda: tab.evaluation is not None and not tab.running, timeout=30_000)
    classes = tab.evaluation.classes
    tab.show_cell(0, 1)
    assert f" of class {classes[0]} mistaken for class {classes[1]}, most confident first" in tab.cell_label.text()
    tab._on_hover((0, 1))
    text = tab.hover_label.text()
    assert text.startswith(f"true class {classes[0]} → predicted class {classes[1]}: ")
    assert f"of the images of class {classes[0]})" in text or "(" not in text
    state.wait_for_background()
