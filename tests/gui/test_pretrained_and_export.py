"""The window without training: torchvision's ImageNet weights classify a photo; a run exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture
def googlenet_file(tmp_path, monkeypatch) -> Path:
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing is downloaded: a local file is given
    torch.manual_seed(0)
    path = tmp_path / "googlenet-1378be20.pth"  # torchvision's own file name
    torch.save(tvm.GoogLeNet(aux_logits=True, init_weights=True, transform_input=True).state_dict(), path)
    return path


def test_pretrained_weights_from_a_file_classify_a_dropped_photo_with_imagenet_names(window, qtbot, googlenet_file,
                                                                                     tmp_path):
    window.load_pretrained("googlenet", str(googlenet_file))
    qtbot.waitUntil(lambda: window.state.model_handle is not None, timeout=60_000)
    handle = window.state.model_handle
    # Named like torchvision's file, but random weights: not called torchvision's (issue 22, item 13).
    assert "not torchvision's published file" in handle.source and handle.resize_size == 256
    assert window.tabs.currentWidget() is window.classify_tab
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (180, 240, 3), dtype=np.uint8)).save(photo)
    with qtbot.waitSignal(window.classify_tab.classified, timeout=60_000):
        window.classify_tab.classify_paths([str(photo)])
    rows = window.classify_tab.topk_rows()
    assert len(rows) == 5 and all(name in handle.spec.classes for name, _ in rows)
    assert len(handle.spec.classes) == 1000 and "tench" in handle.spec.classes[0]


def test_a_wrong_weights_file_name_is_one_message(window, qtbot, tmp_path):
    bad = tmp_path / "resnet50-0676ba61.pth"
    bad.write_bytes(b"not weights")
    window.load_pretrained(bad.name.split("-")[0], str(bad))
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=30_000)
    assert "resnet50" in window.error_box.text() and window.state.model_handle is None


@pytest.mark.slow
def test_the_runs_tab_exports_a_run_to_onnx_checked(qtbot, state, tmp_path):
    pytest.importorskip("onnxruntime")
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.runs.runs_tab import RunsTab
    from test_runs_tab import _write_run

    run_dir, _ = _write_run(tmp_path / "runs")
    tab = RunsTab(state, TrainingSession(state), root=tmp_path / "runs")
    qtbot.addWidget(tab)
    qtbot.waitUntil(lambda: len(tab.runs()) == 1, timeout=10_000)
    out = tmp_path / "lenet.onnx"
    tab.export_run(str(run_dir), str(out))
    qtbot.waitUntil(lambda: "Exported" in tab.status_label.text() or "Not exported" in tab.status_label.text(),
                    timeout=120_000)
    assert "Exported" in tab.status_label.text(), tab.status_label.text()
    assert out.is_file() and Path(str(out) + ".json").is_file()
    state.wait_for_background()
