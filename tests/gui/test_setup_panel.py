"""The setup panel: what it shows of a folder is what training will find in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
import pytest
from PySide6.QtWidgets import QApplication, QCheckBox

from cnnstudio.data.folders import scan_folder
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel


@pytest.fixture
def make_panel(qtbot):
    """A panel on a state; its background jobs are delivered before it goes (the app's panel
    lives as long as its state, so a job's answer never finds it deleted)."""
    made = []

    def make(state):
        panel = SetupPanel(state, TrainingSession(state))
        qtbot.addWidget(panel)
        made.append((panel, state))
        return panel

    yield make
    for _panel, state in made:
        state.wait_for_background()
    QApplication.processEvents()


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


def test_the_panel_counts_a_folders_classes_as_the_scan_does(make_panel, qtbot, state, tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets")
    panel = make_panel(state)
    monkeypatch.setattr(panel, "ask_folder", lambda: str(root))
    panel.open_folder()
    scan = scan_folder(root)
    assert scan.report.layout == "train/val" and len(scan.classes) == 3
    assert panel.dataset == str(root)
    assert "3 classes" in panel.dataset_facts.text()
    assert state.num_classes == 3


def test_the_augmentations_are_offered_before_torch_has_loaded(make_panel, qtbot):
    from cnnstudio.data.catalog import AUGMENTATIONS
    from cnnstudio.gui.state import StudioState

    state = StudioState()  # torch_ready is False: the window paints before the engine import
    panel = make_panel(state)
    boxes = {box.text() for box in panel.augment_box.findChildren(QCheckBox)}
    assert boxes == {a.name for a in AUGMENTATIONS}
    assert not panel.start_button.isEnabled()  # but nothing can start until it has


def test_all_tricks_shows_the_options_it_sets_ticked_and_disabled(make_panel, qtbot, state):
    panel = make_panel(state)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("tricks"))
    widgets = panel.option_widgets
    widgets["dropout"].setValue(0.2)  # the user's own value, before the switch
    widgets["all_tricks"].setChecked(True)
    assert widgets["batch_norm"].isChecked() and not widgets["batch_norm"].isEnabled()
    assert widgets["gap"].isChecked() and widgets["multiscale"].isChecked()
    assert widgets["activation"].currentData() == "leaky_relu" and not widgets["activation"].isEnabled()
    assert widgets["dropout"].value() == 0.5
    # What the model is built with: the switch, and the others at their defaults (the builder's rule).
    options = panel.config().arch_options
    assert options["all_tricks"] is True and options["batch_norm"] is False and options["activation"] == "sigmoid"
    assert state.arch_options == options
    widgets["all_tricks"].setChecked(False)
    assert widgets["batch_norm"].isEnabled() and not widgets["batch_norm"].isChecked()
    assert widgets["activation"].currentData() == "sigmoid" and widgets["dropout"].value() == 0.2  # theirs again


def test_the_layers_built_with_all_tricks_are_what_the_panel_shows():
    from cnnstudio.models.catalog import get_info
    from cnnstudio.models.registry import build_model

    model = build_model("tricks", all_tricks=True)
    implied = get_info("tricks").implied_by("all_tricks")
    kinds = {type(m).__name__ for m in model.modules()}
    assert implied["batch_norm"] and "BatchNorm2d" in kinds
    assert implied["activation"] == "leaky_relu" and "LeakyReLU" in kinds and "Sigmoid" not in kinds
    assert implied["gap"] and isinstance(model.avgpool, __import__("torch").nn.AdaptiveAvgPool2d)
    assert model.avgpool.output_size in (1, (1, 1))


def test_the_estimate_button_says_what_a_training_costs_before_start(make_panel, qtbot, state):
    panel = make_panel(state)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist-sample"))
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.epochs_spin.setValue(3)
    panel.estimate()
    qtbot.waitUntil(lambda: "per epoch on CPU" in panel.estimate_label.text(), timeout=60_000)
    assert "3 epochs" in panel.estimate_label.text() and panel.estimate_button.isEnabled()
    state.wait_for_background()


def test_the_record_switches_reach_the_config_and_survive_the_papers_recipe(make_panel, state) -> None:
    panel = make_panel(state)
    assert panel.config().history and panel.config().dynamics  # both on by default, as on the command line
    panel.dynamics_box.setChecked(False)
    assert panel.config().dynamics is False and panel.config().history is True
    panel.apply_paper_defaults()
    assert panel.config().dynamics is False  # a recipe is about training, not about what is recorded
    panel.apply_config(panel.config().replace(dynamics=True, history=False))
    assert panel.dynamics_box.isChecked() and not panel.history_box.isChecked()
