"""Export to ONNX and .pt2: every architecture, verified files, and failures that leave nothing behind.

The registry-wide tests keep every layer type and every pooling of each architecture but
narrow the wide FC layers (VGG's 25088→4096→4096 alone is 120 M parameters, half a GB of
ONNX): what can break an exporter is the op, not the width.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.cli import main as cli_main
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.errors import Cancelled, ExportError
from cnnstudio.models.catalog import get_info, model_names
from cnnstudio.models.registry import build_model
from cnnstudio.training.weights import export
from cnnstudio.training.weights.export import export_model, export_run
from cnnstudio.training.fit.trainer import Trainer

HAS_ORT = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript", "onnxruntime"))
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="ONNX export needs the export extra: pip install -e '.[export]'")


def _narrow(model: nn.Module, width: int = 16) -> nn.Module:
    """The classifier's hidden FC layers `width` wide (the first keeps its inputs, the last its classes)."""
    linears = [(name, m) for name, m in model.classifier.named_modules() if isinstance(m, nn.Linear)]
    for i, (name, layer) in enumerate(linears):
        in_f = layer.in_features if i == 0 else width
        out_f = layer.out_features if i == len(linears) - 1 else width
        parent = model.classifier.get_submodule(name.rpartition(".")[0]) if "." in name else model.classifier
        setattr(parent, name.rpartition(".")[2], nn.Linear(in_f, out_f))
    return model


def _case(name: str, channels: int = 3) -> tuple[nn.Module, DatasetSpec, int]:
    torch.manual_seed(0)
    with torch.no_grad():
        model = _narrow(build_model(name, in_channels=channels, num_classes=3)).eval()
    spec = DatasetSpec("t", channels, ("a", "b", "c"), (0.5,) * channels, (0.25,) * channels, 64)
    # At 64 px VGG's last map is 2×2 and its adaptive pool to 7×7 does not divide: the hard case.
    return model, spec, max(get_info(name).min_size, 64)


@needs_ort
@pytest.mark.parametrize("name", model_names())
@pytest.mark.slow
def test_every_architecture_exports_to_onnx_and_runs_the_same_in_onnx_runtime(name, tmp_path):
    model, spec, size = _case(name)
    report = export_model(model, spec, arch=name, input_size=size, format="onnx", path=tmp_path / "m.onnx")
    assert Path(report.path).is_file() and report.max_abs_diff <= 1e-4
    assert report.batch_sizes == (1, 5)


# The dynamo ONNX exporter starts with torch.export, so the test above is every architecture's
# torch.export too; here the .pt2 file itself, on the ops the legacy exporters choked on
# (LRN, then adaptive pooling that does not divide) and on grey input.
@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg11-lrn"])
@pytest.mark.slow
def test_pt2_exports_run_the_same_when_loaded_back(name, tmp_path):
    model, spec, size = _case(name, channels=1 if name == "lenet5" else 3)
    report = export_model(model, spec, arch=name, input_size=size, format="pt2", path=tmp_path / "m.pt2")
    program = torch.export.load(report.path).module()
    x = torch.randn(7, report.channels, size, size)  # a batch size never seen while exporting or checking
    with torch.no_grad():
        assert torch.allclose(program(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("export") / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=make_bundle()).fit()
    return run_dir


@needs_ort
@pytest.mark.slow
def test_a_run_exports_with_a_sidecar_and_onnx_runtime_gives_the_same_top_classes(trained_run, tmp_path):
    import onnxruntime

    from cnnstudio.training.store.runs import load_model

    report = export_run(trained_run, "onnx", tmp_path / "lenet.onnx")
    sidecar = json.loads(Path(report.sidecar).read_text())
    assert report.sidecar == str(tmp_path / "lenet.onnx.json")
    assert sidecar["classes"] == [f"c{i}" for i in range(6)] and sidecar["channels"] == 1
    assert sidecar["input_size"] == 16 and sidecar["mean"] == [0.2] and sidecar["std"] == [0.3]
    assert sidecar["verified"]["max_abs_diff"] == report.max_abs_diff and sidecar["run"] == str(trained_run)
    model, _, _ = load_model(trained_run)
    x = torch.randn(9, 1, 16, 16)
    session = onnxruntime.InferenceSession(report.path, providers=["CPUExecutionProvider"])
    ours = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        reference = model(x)
    assert torch.equal(torch.from_numpy(ours).topk(3).indices, reference.topk(3).indices)


def test_a_file_that_fails_the_check_is_reported_and_not_kept(trained_run, tmp_path, monkeypatch):
    real = export._pt2_runner
    monkeypatch.setattr(export, "_pt2_runner", lambda path: (lambda x, run=real(path): run(x) + 1e-3))
    with pytest.raises(ExportError, match=r"differs from PyTorch by up to 1\.00e-03 on a batch of 1"):
        export_run(trained_run, "pt2", tmp_path / "bad.pt2")
    assert list(tmp_path.iterdir()) == []  # no file, no partial file, no sidecar


def test_cancel_stops_between_steps_and_leaves_nothing(trained_run, tmp_path):
    calls = []
    with pytest.raises(Cancelled):
        export_run(trained_run, "pt2", tmp_path / "m.pt2", cancel=lambda: len(calls) > 1,
                   progress=lambda done, total, message: calls.append(done))
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_onnx_export_names_the_extra_in_one_line(trained_run, tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    code = cli_main(["export", str(trained_run), "--format", "onnx", "-o", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "onnxruntime" in err[0] and "pip install 'cnnstudio[export]'" in err[0]


def test_export_on_the_command_line_prints_the_file_and_its_check(trained_run, tmp_path, capsys):
    assert cli_main(["export", str(trained_run), "--format", "pt2", "-o", str(tmp_path / "m.pt2")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith(str(tmp_path / "m.pt2")) and "checked on batches of 1 and 5" in out[0]
    assert out[1].startswith(str(tmp_path / "m.pt2.json"))
