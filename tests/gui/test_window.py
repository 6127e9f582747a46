"""The window's shell: what it shows on opening, the setup panel, settings, looks, and Qt hygiene."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox

from cnnstudio.data.catalog import list_datasets
from cnnstudio.gui.format import format_compact, format_count, format_duration, format_percent, format_rate
from cnnstudio.gui.main_window import TAB_TITLES, MainWindow
from cnnstudio.models.catalog import get_info, list_models
from cnnstudio.training.config import paper_defaults


def test_window_opens_with_mnist_sample_and_the_catalog_architectures(window):
    panel = window.setup_panel
    archs = [panel.arch_combo.itemData(i) for i in range(panel.arch_combo.count())]
    assert archs == [info.name for info in list_models()]
    assert panel.dataset == "mnist-sample"
    assert window.state.dataset == "mnist-sample"
    datasets = [panel.dataset_combo.itemData(i) for i in range(panel.dataset_combo.count())]
    assert [info.name for info in list_datasets()] == [d for d in datasets if d in {i.name for i in list_datasets()}]
    assert panel.dataset_combo.itemText(panel.dataset_combo.count() - 1) == "Open image folder…"
    assert tuple(window.tabs.tabText(i) for i in range(window.tabs.count())) == TAB_TITLES
    assert TAB_TITLES[0] == "Training"
    assert panel.input_size_spin.value() == get_info(panel.arch_name).default_size


def test_option_widgets_follow_the_catalog(window, qtbot):
    panel = window.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("googlenet"))
    info = get_info("googlenet")
    assert list(panel.option_widgets) == [spec.name for spec in info.options]
    kinds = {"bool": QCheckBox, "choice": QComboBox, "float": QDoubleSpinBox}
    for spec in info.options:
        assert isinstance(panel.option_widgets[spec.name], kinds[spec.kind])
    # The size follows the dataset: mnist-sample's 28×28 raised to GoogLeNet's minimum, not the paper's 224.
    assert panel.input_size_spin.value() == info.min_size and "raised to googlenet's minimum" in panel.size_hint.text()
    panel.paper_size_button.click()
    assert panel.input_size_spin.value() == info.default_size
    aux = panel.option_widgets["aux_logits"]
    aux.setChecked(not aux.isChecked())
    assert window.state.arch_options["aux_logits"] == aux.isChecked()
    assert window.state.arch_name == "googlenet"


def test_parameter_count_and_too_small_input_shown_inline(window, qtbot):
    panel = window.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    qtbot.waitUntil(lambda: "parameters here" in panel.arch_facts.text(), timeout=10_000)
    panel.input_size_spin.setValue(get_info("lenet5").min_size - 4)
    qtbot.waitUntil(lambda: panel.input_error.isVisibleTo(panel), timeout=10_000)
    assert "lenet5 needs inputs of at least" in panel.input_error.text()
    panel.input_size_spin.setValue(32)
    qtbot.waitUntil(lambda: not panel.input_error.isVisibleTo(panel), timeout=10_000)


def test_paper_defaults_button_applies_the_recipe(window):
    panel = window.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg16"))
    panel.batch_spin.setValue(7)
    panel.defaults_button.click()
    recipe = paper_defaults("vgg16")
    config = panel.config()
    assert (config.batch_size, config.schedule, config.init, config.epochs) == (
        recipe.batch_size, recipe.schedule, recipe.init, recipe.epochs)


def test_device_list_ends_with_cpu(window):
    combo = window.setup_panel.device_combo
    assert combo.isEnabled()
    assert combo.itemData(combo.count() - 1) == "cpu"
    assert window.device_label.text().startswith("Device:")


def test_choices_and_geometry_persist(qtbot, runs_dir, temp_settings):
    first = MainWindow()
    qtbot.addWidget(first)
    first.setup_panel.arch_combo.setCurrentIndex(first.setup_panel.arch_combo.findData("alexnet"))
    first.setup_panel.epochs_spin.setValue(7)
    first.resize(760, 540)  # the offscreen screen is 800×600
    first.tabs.setCurrentIndex(TAB_TITLES.index("Evaluate"))
    first.save_settings()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.tabs.tabText(second.tabs.currentIndex()) == "Evaluate"  # by title: new tabs shift no index
    assert second.setup_panel.arch_name == "alexnet"
    assert second.setup_panel.epochs_spin.value() == 7
    assert (second.width(), second.height()) == (760, 540)
    assert any(temp_settings.rglob("*.ini"))  # written inside the test's folder, not the user's


def test_open_image_folder_adds_it_as_a_dataset(window, tmp_path, monkeypatch):
    folder = tmp_path / "shapes"
    for name in ("circle", "square", ".ipynb_checkpoints"):
        (folder / name).mkdir(parents=True)
    panel = window.setup_panel
    monkeypatch.setattr(panel, "ask_folder", lambda: str(folder))
    window.open_folder_action.trigger()
    assert panel.dataset == str(folder)
    assert window.state.dataset == str(folder)
    assert window.state.num_classes == 2
    assert "2 classes" in panel.dataset_facts.text()


def test_numbers_are_formatted_for_people():
    assert format_compact(138_357_544) == "138.4\u00a0M"  # a no-break space: never split across lines
    assert format_count(138_357_544) == "138,357,544"
    assert format_percent(0.973) == "97.3 %"
    assert format_duration(65) == "1:05"
    assert format_duration(3725) == "1:02:05"
    assert format_rate(1234.4) == "1,234 img/s"


def test_live_plot_repaints_keep_none_refcount(qtbot):
    """PySide6 6.12 on Python 3.11 lowered None's refcount on every repaint (issue 2 §1)."""
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.show()
    curve = widget.plot(antialias=False)
    x = np.arange(200, dtype=float)
    app = pg.QtWidgets.QApplication.instance()
    before = sys.getrefcount(None)
    for i in range(3000):
        curve.setData(x, np.sin(x / 10 + i / 50))
        widget.repaint()
        if i % 50 == 0:
            app.processEvents()
    assert sys.getrefcount(None) >= before - 100


@pytest.mark.slow
def test_window_paints_before_torch_is_imported():
    code = textwrap.dedent("""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from cnnstudio.gui.main_window import MainWindow
        window = MainWindow()
        window.show()
        window.repaint()
        print("torch" in sys.modules)
        os._exit(0)  # skip the background import: only the first paint is under test
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_untouched_training_settings_follow_the_architecture(qtbot):
    from cnnstudio.gui.main_window import MainWindow
    from cnnstudio.training.config import default_config

    win = MainWindow()
    qtbot.addWidget(win)
    panel = win.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    assert panel.lr_spin.value() == default_config("lenet5").lr
    # Untouched: switching to VGG brings VGG's starting recipe, not LeNet's high LR.
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg11"))
    assert panel.lr_spin.value() == default_config("vgg11").lr
    assert panel.batch_spin.value() == default_config("vgg11").batch_size
    # Changed by hand: the user's value stays across a switch.
    panel.lr_spin.setValue(0.005)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    assert panel.lr_spin.value() == 0.005
