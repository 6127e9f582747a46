"""An image folder's parameter count is for its own channels, and the facts say what the
loaded data showed once it is loaded (issue 22, item 14)."""

from __future__ import annotations

from cnnstudio.data.folders import typical_channels
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.gui.format import format_compact
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel
from cnnstudio.models.registry import build_model
from tests.helpers.training import make_block_folder


def _params(in_channels: int, classes: int) -> int:
    model = build_model("lenet5", in_channels=in_channels, num_classes=classes, activation="tanh", pool="avg")
    return sum(p.numel() for p in model.parameters())


def test_a_grey_folder_is_counted_grey_before_training_and_confirmed_after(qtbot, state, tmp_path, monkeypatch):
    folder = make_block_folder(tmp_path / "blocks")  # grey PNGs ("L"), two classes
    assert typical_channels(folder) == 1
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    monkeypatch.setattr(panel, "ask_folder", lambda: str(folder))
    panel.open_folder()
    grey = f"{format_compact(_params(1, 2))} parameters here"
    assert grey != f"{format_compact(_params(3, 2))} parameters here"  # the figure tells them apart
    qtbot.waitUntil(lambda: grey in panel.arch_facts.text(), timeout=20_000)
    assert state.in_channels == 1
    assert panel.dataset_facts.text() == "Image folder · 2 classes · grey images (checked when training starts)"
    # The fit loaded the folder: what it found replaces the guess, without "(checked when …)".
    state.update_selection(spec=DatasetSpec(name=str(folder), channels=1, classes=("left", "right"), mean=(0.2,),
                                            std=(0.3,), native_size=16))
    assert panel.dataset_facts.text() == "Image folder · 2 classes · grey images"


def test_a_colour_folder_reads_as_colour(tmp_path) -> None:
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / name / "1.png")
    assert typical_channels(tmp_path) == 3
    assert typical_channels(tmp_path / "nothing") is None
