"""The Data tab: the chosen dataset's counts as the run splits them, examples, live augmentations, unusable files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.training import folder_config, make_block_folder

from cnnstudio.gui.inspection.data_tab import STRIP_HEIGHT, DataTab
from cnnstudio.training.fit.training_data import load_training_data


def _pixels(image) -> bytes:
    """The pixels without the scanlines' padding (uninitialised memory)."""
    width = image.width() * image.depth() // 8
    return b"".join(bytes(image.constScanLine(y))[:width] for y in range(image.height()))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = make_block_folder(tmp_path / "blocks", per_class=11)
    (root / "right" / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    for i in range(4):  # an imbalance: right has 15 usable images, left 11
        Image.new("L", (16, 16), 200).save(root / "right" / f"extra{i}.png")
    return root


def test_counts_examples_and_unusable_files_of_a_folder(qtbot, state, folder: Path) -> None:
    config = folder_config(folder, seed=4)
    tab = DataTab(state, lambda: config)
    qtbot.addWidget(tab)
    state.update_selection(dataset=str(folder), input_size=16)
    tab.resize(1000, 600)
    tab.show()
    qtbot.waitUntil(lambda: tab.overview is not None and bool(tab.example_rows()), timeout=20_000)
    bundle = load_training_data(config)
    train, val = tab.counts_plot.heights()
    assert train == torch.bincount(bundle.train.labels).tolist()
    assert val == torch.bincount(bundle.val.labels).tolist()
    assert sum(train) + sum(val) == 26
    assert tab.unreadable_list.count() == 1 and "torn.png" in tab.unreadable_list.item(0).text()
    assert "1 files could not be used" in tab.unreadable_title.text()
    rows = tab.example_rows()
    assert len(rows) == 2 and all(not r.isNull() and r.height() == STRIP_HEIGHT for r in rows)
    assert "seed 4" in tab.status_label.text()


def test_augmentations_toggle_live_on_the_same_images(qtbot, state) -> None:
    tab = DataTab(state)
    qtbot.addWidget(tab)
    state.update_selection(dataset="mnist-sample", input_size=32)
    tab.show()
    qtbot.waitUntil(lambda: len(tab.example_rows()) == 10, timeout=20_000)
    assert tab.counts_plot.heights() == ([450] * 10, [50] * 10)
    plain = [_pixels(r) for r in tab.example_rows()]
    overview = tab.overview
    tab.augment_boxes["crop"].setChecked(True)
    qtbot.waitUntil(lambda: [_pixels(r) for r in tab.example_rows()] != plain, timeout=10_000)
    cropped = [_pixels(r) for r in tab.example_rows()]
    assert tab.overview is overview  # the same images: nothing was read again
    assert "through crop" in tab.seen_label.text()
    tab.again_button.click()
    qtbot.waitUntil(lambda: [_pixels(r) for r in tab.example_rows()] != cropped, timeout=10_000)
    tab.augment_boxes["crop"].setChecked(False)
    qtbot.waitUntil(lambda: [_pixels(r) for r in tab.example_rows()] == plain, timeout=10_000)


def test_follows_the_chosen_dataset_and_reads_only_when_shown(qtbot, state, folder: Path) -> None:
    tab = DataTab(state)
    qtbot.addWidget(tab)
    state.update_selection(dataset="mnist-sample", input_size=32)
    assert tab.overview is None and not tab.loading  # hidden: nothing read
    tab.show()
    qtbot.waitUntil(lambda: tab.overview is not None, timeout=20_000)
    assert tab.overview.classes == tuple("0123456789")
    state.update_selection(dataset=str(folder), input_size=16)
    qtbot.waitUntil(lambda: tab.overview is not None and tab.overview.classes == ("left", "right"), timeout=20_000)
    assert tab.title.text() == "Data · blocks"


def test_a_dataset_not_downloaded_is_not_fetched_for_a_look(qtbot, state, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNSTUDIO_DATA", str(tmp_path / "empty"))
    tab = DataTab(state)
    qtbot.addWidget(tab)
    state.update_selection(dataset="cifar10", input_size=32)
    tab.show()
    qtbot.waitUntil(lambda: not tab.loading and "not downloaded" in tab.status_label.text(), timeout=20_000)
    assert tab.download_button.isVisibleTo(tab)
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").rglob("*.tar.gz"))


def test_a_long_read_shows_progress_and_can_be_cancelled(qtbot, state, monkeypatch) -> None:
    """A large folder's scan runs in the background: the tab shows its progress, stays usable, and
    Cancel stops it."""
    import time

    import cnnstudio.data.overview as overview_module
    from cnnstudio.errors import Cancelled

    def slow_overview(*_args, progress=None, cancel=None, **_kwargs):
        for done in range(1000):
            if cancel():
                raise Cancelled("folder scan cancelled")
            progress(done, 1000, "Checking images")
            time.sleep(0.01)
        raise AssertionError("the scan was not cancelled")

    monkeypatch.setattr(overview_module, "dataset_overview", slow_overview)
    tab = DataTab(state)
    qtbot.addWidget(tab)
    state.update_selection(dataset="mnist-sample", input_size=32)
    tab.show()
    qtbot.waitUntil(lambda: tab.progress.value() > 0, timeout=10_000)
    assert tab.loading and tab.cancel_button.isVisibleTo(tab)
    tab.cancel_button.click()
    qtbot.waitUntil(lambda: not tab.loading, timeout=10_000)
    assert "cancelled" in tab.status_label.text() and not tab.progress.isVisibleTo(tab)


def test_the_forms_seed_picks_the_split_shown(qtbot, window) -> None:
    tab = window.data_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.overview is not None, timeout=30_000)
    first = tab.overview
    window.setup_panel.seed_spin.setValue(9)
    qtbot.waitUntil(lambda: tab.overview is not first, timeout=30_000)
    assert tab.overview.seed == 9 and "seed 9" in tab.status_label.text()
