"""The setup panel: what it shows of a folder is what training will find in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QCheckBox

from cnnstudio.data.folders import scan_folder
from cnnstudio.gui.session import TrainingSession
from cnnstudio.gui.setup_panel import SetupPanel


def _folder(root: Path) -> Path:
    # Capitalised train/validation folders and a hidden "class": the panel's own guess once
    # counted 4 here (it knew only lower-case train/val and saw no validation split).
    for split in ("Train", "Validation"):
        for name in ("cats", "dogs", "owls", ".thumbnails"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return root


def test_the_panel_counts_a_folders_classes_as_the_scan_does(qtbot, state, tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets")
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    monkeypatch.setattr(panel, "ask_folder", lambda: str(root))
    panel.open_folder()
    scan = scan_folder(root)
    assert scan.report.layout == "train/val" and len(scan.classes) == 3
    assert panel.dataset == str(root)
    assert "3 classes" in panel.dataset_facts.text()
    assert state.num_classes == 3


def test_the_augmentations_are_offered_before_torch_has_loaded(qtbot):
    from cnnstudio.data.catalog import AUGMENTATIONS
    from cnnstudio.gui.state import StudioState

    state = StudioState()  # torch_ready is False: the window paints before the engine import
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    boxes = {box.text() for box in panel.augment_box.findChildren(QCheckBox)}
    assert boxes == {a.name for a in AUGMENTATIONS}
    assert not panel.start_button.isEnabled()  # but nothing can start until it has
