"""The dynamics recorder and its diagnosis: numbers against hand-computed hooks, every finding
on a net built to show it, resume, damage and kill -9."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnstudio.inspect.dynamics import diagnose, layer_table
from cnnstudio.training.fit.callbacks import Callback, CallbackList, CallbackStepHooks
from cnnstudio.training.fit.dynamics import DynamicsRecorder
from cnnstudio.training.fit.step import make_scaler, train_step
from cnnstudio.training.fit.trainer import Trainer
from cnnstudio.training.records import StepInfo
from cnnstudio.training.store.dynamics import chunk_name, dynamics_dir, read_dynamics
from tests.helpers.training import make_bundle, tiny_config

REPO = Path(__file__).resolve().parents[2]


class _Harness:
    """What the recorder reads of a trainer, around a plain loop of `train_step`s."""

    def __init__(self, model: nn.Module, run_dir: Path, lr: float, callbacks: CallbackList) -> None:
        self.bare_model = model
        self.run_dir = run_dir
        self.resume_point = None
        self.global_step = 0
        self.current_lr = lr
        self.callbacks = callbacks


def _record(model: nn.Module, run_dir: Path, *, steps: int = 6, lr: float = 0.1, channels: int = 1, size: int = 8,
            classes: int = 4, seed: int = 0) -> object:
    torch.manual_seed(seed)
    x = torch.randn(steps, 16, channels, size, size)
    y = torch.randint(0, classes, (steps, 16))
    recorder = DynamicsRecorder(early_steps=10**6, budget=1.0)
    harness = _Harness(model, run_dir, lr, CallbackList([recorder]))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    hooks = CallbackStepHooks(harness, optimizer)
    harness.callbacks.on_fit_start(harness, None)
    for i in range(steps):
        hooks.step = step = StepInfo(1, i + 1, steps, i + 1)
        harness.callbacks.on_train_batch_start(harness, step)
        out = train_step(model, x[i], y[i], optimizer=optimizer, scaler=make_scaler(None), dtype=None, aux_weight=0.3,
                         hooks=hooks)
        harness.global_step = i + 1
        harness.callbacks.on_train_batch_end(harness, step, out)
    harness.callbacks.on_fit_end(harness, None)
    return read_dynamics(run_dir)


def _kinds(record: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in diagnose(record):
        found.setdefault(finding.kind, []).append(finding.layer)
    return found


class _ByHand(Callback):
    """The same figures as the recorder's, computed with plain hooks on conv1 of a LeNet."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer, step) -> None:
        model = trainer.bare_model
        act = model.get_submodule("features.act1")

        def hook(_m, _i, out):
            self.out = out.detach().clone()
        self.handle = act.register_forward_hook(hook)

    def on_before_optimizer_step(self, trainer, step, optimizer) -> None:
        weight = trainer.bare_model.get_submodule("features.c1").weight
        self.grad = float(weight.grad.norm())
        self.before = weight.detach().clone()

    def on_train_batch_end(self, trainer, step, output) -> None:
        self.handle.remove()
        weight = trainer.bare_model.get_submodule("features.c1").weight.detach()
        out = self.out
        self.rows.append({
            "step": step.global_step, "grad_norm": self.grad, "weight_norm": float(weight.norm()),
            "update_ratio": float((weight - self.before).norm() / weight.norm()),
            "act_mean": float(out.mean()), "act_std": float(out.std()), "zero": float((out <= 0).float().mean()),
            "dead": float((out.amax(dim=(0, 2, 3)) <= 0).float().mean()), "loss": float(output.loss),
        })


def test_recorded_figures_equal_hand_computed_hooks(tmp_path: Path) -> None:
    by_hand = _ByHand()
    recorder = DynamicsRecorder(early_steps=10**6, budget=1.0)
    Trainer(tiny_config(epochs=1, dynamics=False, history=False), [recorder, by_hand], run_dir=tmp_path / "run",
            bundle=make_bundle()).fit()
    record = read_dynamics(tmp_path / "run")
    assert [row["step"] for row in by_hand.rows] == record.steps.tolist()  # every step sampled
    c1 = record.layer_index("features.c1")
    assert record.layers[c1].activation == "rectifier"  # its activation is the ReLU that follows it
    for s, row in enumerate(by_hand.rows):
        for name in ("grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "zero", "dead"):
            assert record.figures[name][s, c1] == pytest.approx(row[name], rel=2e-2, abs=1e-4), (name, s)
        assert record.loss[s] == pytest.approx(row["loss"], rel=1e-5)
    assert np.all(record.lr == pytest.approx(0.05))


def _conv_stack(activation: type[nn.Module], depth: int, *, channels: int = 4, classes: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), activation()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), activation()]
    layers += [nn.Flatten(), nn.Linear(channels * 8 * 8, classes)]
    return nn.Sequential(*layers)


@pytest.mark.slow
def test_a_deep_sigmoid_stack_shows_vanishing_gradients(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _conv_stack(nn.Sigmoid, 10)
    kinds = _kinds(_record(model, tmp_path / "run"))
    assert kinds["vanishing_gradients"] == ["0"]  # the first conv, named as the layer graph names it
    healthy = _kinds(_record(_conv_stack(nn.ReLU, 2), tmp_path / "relu"))
    assert "vanishing_gradients" not in healthy


def test_huge_weights_saturate_a_sigmoid(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _conv_stack(nn.Sigmoid, 2)
    with torch.no_grad():
        model[0].weight.mul_(200)
    assert "0" in _kinds(_record(model, tmp_path / "run", lr=1e-3))["saturation"]


def test_a_negative_bias_kills_relu_units(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _conv_stack(nn.ReLU, 2)
    with torch.no_grad():
        model[2].bias.fill_(-1e3)
    kinds = _kinds(_record(model, tmp_path / "run"))
    assert kinds["dead_units"] == ["2"]


def test_the_first_layer_to_produce_inf_is_named(tmp_path: Path) -> None:
    model = _conv_stack(nn.ReLU, 3)  # (a tanh would turn the inf into a finite 1 and pass a NaN gradient back)
    with torch.no_grad():
        model[2].weight[0, 0, 1, 1] = math.inf
    record = _record(model, tmp_path / "run", steps=2)
    non_finite = [f for f in diagnose(record) if f.kind == "non_finite"]
    assert [f.layer for f in non_finite] == ["2"]
    assert non_finite[0].step == 1


def test_tiny_weights_under_a_big_gradient_explode(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _conv_stack(nn.ReLU, 2)
    with torch.no_grad():
        model[5].weight.mul_(1e-7)
    assert "5" in _kinds(_record(model, tmp_path / "run", lr=1e-9, steps=3))["exploding_gradients"]


@pytest.mark.parametrize(("lr", "words"), [(1e-7, "too low"), (5.0, "too high")])
def test_the_update_ratio_names_a_learning_rate_too_low_or_too_high(tmp_path: Path, lr: float, words: str) -> None:
    torch.manual_seed(0)
    findings = [f for f in diagnose(_record(_conv_stack(nn.ReLU, 2), tmp_path / "run", lr=lr, steps=3))
                if f.kind == "update_ratio"]
    assert findings and all(words in f.suggestion for f in findings)


def test_batchnorm_running_statistics_far_from_the_batch_are_found(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=0.0), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 4))
    with torch.no_grad():
        model[1].running_var.fill_(1e4)  # momentum 0: the running statistics never catch up
    kinds = _kinds(_record(model, tmp_path / "run", lr=1e-3))
    assert kinds["batchnorm_statistics"] == ["1"]


def test_a_resume_continues_the_recording_without_duplicates(tmp_path: Path) -> None:
    bundle = make_bundle()
    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=bundle).fit()
    first = read_dynamics(run)
    # A chunk ahead of the checkpoint (a kill after it was written, before last.pt): the resume drops it.
    ahead = dynamics_dir(run) / chunk_name(10_000, 10_001)
    ahead.write_bytes((dynamics_dir(run) / sorted(p.name for p in dynamics_dir(run).glob("s*.npz"))[0]).read_bytes())
    Trainer(tiny_config(epochs=2), resume_from=run, bundle=bundle).fit()
    record = read_dynamics(run)
    assert not ahead.exists()
    assert np.all(np.diff(record.steps) > 0)
    assert record.steps[: len(first)].tolist() == first.steps.tolist()
    assert set(record.epochs.tolist()) == {1, 2}
    assert layer_table(record, 2)[0].name == "features.c1"


def test_a_damaged_chunk_is_skipped_in_words(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=make_bundle(per_class=40)).fit()
    chunks = sorted(dynamics_dir(run).glob("s*.npz"))
    assert len(chunks) == 2  # the first 20 steps are written early, the rest at the epoch's end
    chunks[0].write_bytes(b"PK\x03\x04 not a chunk")
    record = read_dynamics(run)
    assert len(record.problems) == 1 and chunks[0].name in record.problems[0]
    assert len(record) > 0


_KILLED_IN_CHUNK = """
import sys, time
from pathlib import Path
from tests.helpers.training import make_bundle, tiny_config
import cnnstudio.training.store.dynamics as store
from cnnstudio.training.fit.trainer import Trainer

real = store.atomic_write
seen = []

def hang_in_the_second_chunk(path, write, **kwargs):
    if Path(path).name.startswith("s"):
        seen.append(path)
        if len(seen) == 2:
            def half(handle):
                handle.write(b"PK\\x03\\x04" + bytes(512))
                handle.flush()
                print("SAVING", flush=True)
                time.sleep(600)
            return real(path, half, **kwargs)
    return real(path, write, **kwargs)

store.atomic_write = hang_in_the_second_chunk
Trainer(tiny_config(epochs=3, batch_size=4, history=False), run_dir=sys.argv[1], bundle=make_bundle(per_class=40)).fit()
"""


@pytest.mark.slow
def test_a_kill_9_while_a_chunk_is_written_corrupts_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IN_CHUNK, str(run)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "SAVING", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    record = read_dynamics(run)
    assert record is not None and record.problems == []  # the half-written temp file is not a chunk
    assert len(record) > 0
    assert any(p.name.startswith(".") for p in dynamics_dir(run).iterdir())


def test_cli_dynamics_prints_a_table_writes_json_and_a_picture(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=make_bundle()).fit()
    out = subprocess.run([sys.executable, "-m", "cnnstudio", "dynamics", str(run), "--json", str(tmp_path / "d.json"),
                          "-o", str(tmp_path / "d.png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "features.c1" in out.stdout and "Diagnosis" in out.stdout
    data = json.loads((tmp_path / "d.json").read_text())
    assert set(data) >= {"steps", "layers", "diagnosis"}
    layer = data["layers"][0]
    assert layer["kind"] in ("conv", "linear", "norm", "block", "head")
    for key in ("name", "grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "saturated", "zero"):
        assert key in layer
    assert len(layer["grad_norm"]) == len(data["steps"])
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_dynamics_of_a_run_without_them_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1, dynamics=False), run_dir=run, bundle=make_bundle()).fit()
    out = subprocess.run([sys.executable, "-m", "cnnstudio", "dynamics", str(run)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert "no training dynamics" in out.stderr and "Traceback" not in out.stderr


def test_a_failing_observer_ends_its_recording_never_the_fit(tmp_path: Path) -> None:
    class Broken(Callback):
        observer = True
        title = "the broken recorder"

        def on_train_batch_end(self, trainer, step, output) -> None:
            raise RuntimeError("disk on fire")

    notices: list[str] = []

    class Notices(Callback):
        def on_notice(self, trainer, message) -> None:
            notices.append(message)

    broken = Broken()
    trainer = Trainer(tiny_config(epochs=1), [broken, Notices()], run_dir=tmp_path / "run", bundle=make_bundle())
    result = trainer.fit()
    assert result.reason == "finished"
    assert broken not in list(trainer.callbacks)
    assert notices == ["the broken recorder stopped: RuntimeError: disk on fire; training goes on"]


def test_hostile_files_in_the_dynamics_folder_are_skipped_in_words_without_blocking(tmp_path: Path) -> None:
    import io
    import os

    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=make_bundle()).fit()
    folder = dynamics_dir(run)
    good = len(read_dynamics(run))
    os.mkfifo(folder / chunk_name(9_000, 9_001))  # would block a reader that opens it plainly
    # A small compressed member that claims a huge array: refused from its header, never decoded.
    bomb = io.BytesIO()
    np.savez_compressed(bomb, steps=np.zeros(10**7, dtype=np.int64))
    (folder / chunk_name(9_100, 9_101)).write_bytes(bomb.getvalue())
    record = read_dynamics(run)
    assert len(record) == good
    assert len(record.problems) == 2
    assert any("FIFO" in p for p in record.problems) and any("steps have shape" in p for p in record.problems)
