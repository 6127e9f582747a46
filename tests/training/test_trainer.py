"""The training loop: learning, determinism, stop/pause, exact resume, faults, callbacks."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch

from cnnstudio.training.store import runs
from cnnstudio.errors import CheckpointError, CnnStudioError, TrainingError
from cnnstudio.training.records import BatchStats, EpochStats, FitResult, FitStart
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.store.checkpoints import load_checkpoint
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import Recorder, make_bundle, tiny_config


def _curve(run_dir: Path) -> list[tuple[float, ...]]:
    """The parts of metrics.jsonl that must not depend on timing."""
    return [(r["train_loss"], r["train_acc"], r["val_loss"], r["val_acc"], r["lr"])
            for r in runs.open_run(run_dir).metrics()]


@pytest.mark.slow
def test_lenet_reaches_90_percent_on_mnist_sample(tmp_path: Path) -> None:
    config = TrainConfig(arch="lenet5", arch_options={"activation": "relu", "pool": "max"}, dataset="mnist-sample",
                         epochs=2, batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.0,
                         device="cpu", num_threads=1)
    result = Trainer(config, run_dir=tmp_path / "run").fit()
    assert result.epochs_done == 2 and not result.stopped_early
    assert result.best_val_acc is not None and result.best_val_acc >= 0.90
    spec = runs.open_run(result.run_dir).spec
    assert spec.classes == tuple("0123456789")


def test_same_seed_gives_the_same_curve_and_weights(tmp_path: Path, bundle) -> None:
    config = tiny_config(augment=("crop", "flip"))
    first = Trainer(config, run_dir=tmp_path / "a", bundle=bundle)
    first.fit()
    second = Trainer(config, run_dir=tmp_path / "b", bundle=bundle)
    second.fit()
    assert _curve(tmp_path / "a") == _curve(tmp_path / "b")
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    other = Trainer(config.replace(seed=1), run_dir=tmp_path / "c", bundle=bundle)
    other.fit()
    assert _curve(tmp_path / "c") != _curve(tmp_path / "a")


def test_training_learns_the_block_data(run_dir: Path, bundle) -> None:
    result = Trainer(tiny_config(epochs=6, optimizer="adam", lr=0.01), run_dir=run_dir, bundle=bundle).fit()
    assert result.best_val_acc >= 0.8


class _StopAt(Callback):
    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        self.seen += 1
        if self.seen == self.batch:
            trainer.request_stop()


def test_stop_takes_effect_within_one_batch_and_leaves_a_usable_run(run_dir: Path, bundle) -> None:
    stopper = _StopAt(3)
    trainer = Trainer(tiny_config(epochs=5), [stopper], run_dir=run_dir, bundle=bundle)
    result = trainer.fit()
    assert stopper.seen == 3  # no batch ran after the one that asked to stop
    assert trainer.global_step == 3
    assert result.stopped_early and result.reason == "stopped by the user" and result.epochs_done == 0
    checkpoint = load_checkpoint(run_dir / "last.pt")
    assert checkpoint["epoch"] == 0
    model, spec, config = runs.load_model(run_dir)  # no best.pt yet: falls back to last.pt
    assert not model.training and spec.classes == bundle.spec.classes
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"


def test_stop_between_epochs_keeps_finished_epochs(run_dir: Path, bundle) -> None:
    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
            trainer.request_stop()

    result = Trainer(tiny_config(epochs=4), [StopAfterFirstEpoch()], run_dir=run_dir, bundle=bundle).fit()
    assert result.epochs_done == 1 and result.stopped_early
    assert len(runs.open_run(run_dir).metrics()) == 1
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 1
    assert (run_dir / "best.pt").exists()


def test_pause_blocks_between_batches_and_resume_continues(run_dir: Path, bundle) -> None:
    paused_at = threading.Event()

    class PauseAtSecond(Callback):
        def __init__(self) -> None:
            self.batches = 0

        def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
            self.batches += 1
            if self.batches == 2:
                trainer.pause()
                paused_at.set()

    counter = PauseAtSecond()
    trainer = Trainer(tiny_config(epochs=1), [counter], run_dir=run_dir, bundle=bundle)
    results: list[FitResult] = []
    worker = threading.Thread(target=lambda: results.append(trainer.fit()))
    worker.start()
    try:
        assert paused_at.wait(30)
        time.sleep(0.3)
        assert counter.batches == 2 and trainer.paused and worker.is_alive()
    finally:
        trainer.resume()
        worker.join(30)
    assert not worker.is_alive()
    assert results[0].epochs_done == 1 and not results[0].stopped_early
    assert counter.batches == len(bundle.train) // 8 + (len(bundle.train) % 8 > 0)


def test_stop_releases_a_pause(run_dir: Path, bundle) -> None:
    class PauseAtFirst(Callback):
        def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
            trainer.pause()

    trainer = Trainer(tiny_config(epochs=3), [PauseAtFirst()], run_dir=run_dir, bundle=bundle)
    results: list[FitResult] = []
    worker = threading.Thread(target=lambda: results.append(trainer.fit()))
    worker.start()
    deadline = time.monotonic() + 30
    while not trainer.paused and time.monotonic() < deadline:
        time.sleep(0.01)
    trainer.request_stop()
    worker.join(30)
    assert not worker.is_alive() and results[0].stopped_early
    assert (run_dir / "last.pt").exists()


@pytest.mark.parametrize(("settings", "lrs"), [
    ({"schedule": "step", "step_size": 1, "gamma": 0.5}, [0.05, 0.025]),
    ({"optimizer": "adamw", "lr": 0.01, "schedule": "cosine", "weight_decay": 0.01}, [0.01, 0.005]),
    ({"nesterov": True, "schedule": "plateau", "plateau_patience": 0}, None),
])
def test_resume_is_exact(tmp_path: Path, bundle, settings: dict, lrs: list[float] | None) -> None:
    config = tiny_config(epochs=2, augment=("crop", "flip"), **settings)
    straight = Trainer(config, run_dir=tmp_path / "straight", bundle=bundle)
    straight.fit()
    rng_after_straight = torch.get_rng_state()

    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
            trainer.request_stop()

    Trainer(config, [StopAfterFirstEpoch()], run_dir=tmp_path / "split", bundle=bundle).fit()
    torch.rand(1000)  # whatever else the process does in between must not matter
    resumed = Trainer(config, resume_from=tmp_path / "split", bundle=bundle)
    recorder = Recorder()
    resumed.callbacks.append(recorder)
    result = resumed.fit()

    assert recorder.of("fit_start")[0].start_epoch == 1
    assert result.epochs_done == 2
    assert _curve(tmp_path / "split") == _curve(tmp_path / "straight")
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    if lrs is not None:  # the schedule went on where it was
        assert [row[-1] for row in _curve(tmp_path / "split")] == pytest.approx(lrs)
    assert torch.equal(torch.get_rng_state(), rng_after_straight)  # the RNG state came back with the weights


def test_plateau_schedule_drops_the_lr_and_stops_after_max_lr_drops(run_dir: Path, bundle) -> None:
    # A learning rate too small to change anything: validation accuracy stays flat.
    config = tiny_config(epochs=10, lr=1e-6, momentum=0.0, schedule="plateau", plateau_patience=0, max_lr_drops=1)
    result = Trainer(config, run_dir=run_dir, bundle=bundle).fit()
    assert result.stopped_early and result.epochs_done == 3
    assert result.reason == "validation accuracy stopped improving after 1 learning-rate drops (max_lr_drops)"
    lrs = [row[-1] for row in _curve(run_dir)]
    assert lrs == pytest.approx([1e-6, 1e-6, 1e-7])


def test_resume_with_more_epochs_continues_the_run(tmp_path: Path, bundle) -> None:
    Trainer(tiny_config(epochs=1, schedule="cosine"), run_dir=tmp_path / "run", bundle=bundle).fit()
    result = Trainer(tiny_config(epochs=3, schedule="cosine"), resume_from=tmp_path / "run", bundle=bundle).fit()
    info = runs.open_run(tmp_path / "run")
    assert result.epochs_done == 3 and info.config.epochs == 3 and info.epochs_done == 3
    # Cosine over the new total: epoch 2 trains at 0.05·(1 + cos(π/3))/2, not at the old horizon's 0.
    assert [row["lr"] for row in info.metrics()] == pytest.approx([0.05, 0.0375, 0.0125])


def test_resume_refuses_a_checkpoint_without_training_state(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    shutil.copyfile(run_dir / "best.pt", run_dir / "last.pt")  # weights only
    with pytest.raises(CheckpointError, match=r"cannot resume .* lacks the optimizer, scheduler"):
        Trainer(tiny_config(epochs=2), resume_from=run_dir, bundle=bundle).fit()


def test_resume_refuses_other_settings_and_done_runs(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    with pytest.raises(CnnStudioError, match=r"trained with arch_options=.*resume with the run's own settings"):
        Trainer(tiny_config(epochs=2, arch_options={"activation": "tanh"}), resume_from=run_dir, bundle=bundle).fit()
    with pytest.raises(CnnStudioError, match=r"already trained 1 epoch\(s\); ask for more than 1"):
        Trainer(tiny_config(epochs=1), resume_from=run_dir, bundle=bundle).fit()
    with pytest.raises(CnnStudioError, match="classes changed"):
        Trainer(tiny_config(epochs=2), resume_from=run_dir, bundle=make_bundle(classes=5)).fit()


def test_a_new_run_refuses_a_folder_that_holds_a_run(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    with pytest.raises(CnnStudioError, match="already holds a run"):
        Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(run_dir: Path, bundle) -> None:
    class PoisonAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
            with torch.no_grad():
                trainer.model.classifier.output.weight.fill_(float("nan"))

    recorder = Recorder()
    trainer = Trainer(tiny_config(epochs=3, lr=0.02), [PoisonAfterFirstEpoch(), recorder], run_dir=run_dir,
                      bundle=bundle)
    with pytest.raises(TrainingError, match=r"^loss became NaN at epoch 2, batch 1 — try a lower learning rate \(now 0\.02\)$"):
        trainer.fit()
    assert isinstance(recorder.of("exception")[0], TrainingError)
    assert not recorder.of("fit_end")
    checkpoint = load_checkpoint(run_dir / "last.pt")
    assert checkpoint["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed" and "NaN" in status["reason"]


def test_a_huge_learning_rate_is_caught(run_dir: Path, bundle) -> None:
    config = tiny_config(epochs=3, lr=1e12, momentum=0.0, arch_options={"activation": "relu", "pool": "max"})
    with pytest.raises(TrainingError, match=r"loss became (NaN|infinite) at epoch 1, batch \d+ .*now 1e\+12"):
        Trainer(config, run_dir=run_dir, bundle=bundle).fit()
    assert not (run_dir / "last.pt").exists()  # nothing good to keep, and nothing bad was saved


@pytest.mark.slow
def test_out_of_memory_retries_at_half_the_batch_size(run_dir: Path, bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstudio.models import registry

    real_build = registry.build_model

    def build_with_small_memory(*args: object, **kwargs: object) -> torch.nn.Module:
        model = real_build(*args, **kwargs)

        def refuse_big_batches(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
            if inputs[0].shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

        model.register_forward_pre_hook(refuse_big_batches)
        return model

    monkeypatch.setattr(registry, "build_model", build_with_small_memory)
    recorder = Recorder()
    result = Trainer(tiny_config(epochs=1, batch_size=8), [recorder], run_dir=run_dir, bundle=bundle).fit()
    assert recorder.of("notice") == [
        "out of cpu memory: retrying the epoch at batch size 4",
        "out of cpu memory: retrying the epoch at batch size 2",
    ]
    assert result.epochs_done == 1
    assert runs.open_run(run_dir).metrics()[0]["batch_size"] == 2
    # The history skipped the snapshot that did not fit and went on, its probes two at a time.
    from cnnstudio.training.store.snapshots import list_snapshots

    assert [s.label for s in list_snapshots(run_dir).snapshots][-1] == "epoch 1"


def test_out_of_memory_at_batch_size_one_gives_up_clearly(run_dir: Path, bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstudio.models import registry

    real_build = registry.build_model

    def build_without_memory(*args: object, **kwargs: object) -> torch.nn.Module:
        model = real_build(*args, **kwargs)

        def refuse(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

        model.register_forward_pre_hook(refuse)
        return model

    monkeypatch.setattr(registry, "build_model", build_without_memory)
    with pytest.raises(TrainingError, match=r"does not fit in cpu memory even one image at a time at 16×16"):
        Trainer(tiny_config(epochs=1, batch_size=2), run_dir=run_dir, bundle=bundle).fit()


def _plain_values(value: object) -> bool:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    if isinstance(value, tuple):
        return all(_plain_values(v) for v in value)
    return False


def test_callbacks_receive_plain_values_only(run_dir: Path, bundle) -> None:
    recorder = Recorder()
    Trainer(tiny_config(epochs=2), [recorder], run_dir=run_dir, bundle=bundle).fit()
    kinds = [name for name, _ in recorder.events]
    assert kinds[0] == "fit_start" and kinds[-1] == "fit_end" and kinds.count("epoch") == 2
    for name, payload in recorder.events:
        assert dataclasses.is_dataclass(payload) and payload.__dataclass_params__.frozen
        for field in dataclasses.fields(payload):
            value = getattr(payload, field.name)
            assert not isinstance(value, torch.Tensor), (name, field.name)
            if field.name != "spec":  # the DatasetSpec: a frozen dataclass of plain values itself
                assert _plain_values(value), (name, field.name, value)
    start: FitStart = recorder.of("fit_start")[0]
    assert start.batches_per_epoch == 7 and start.num_params > 0 and start.device == "cpu"
    batches: list[BatchStats] = recorder.of("batch")
    assert [b.batch for b in batches[:7]] == list(range(1, 8))  # progress_interval 0: every batch
    assert all(0.0 <= b.accuracy <= 1.0 and b.loss > 0 for b in batches)
    epoch: EpochStats = recorder.of("epoch")[-1]
    assert epoch.val_top5 is not None and epoch.val_top5 >= epoch.val_acc
    assert epoch.aux_losses == () and recorder.of('epoch')[-1].to_row()['aux1_loss'] is None


def test_batch_reports_are_throttled(run_dir: Path, bundle) -> None:
    recorder = Recorder()
    Trainer(tiny_config(epochs=2, progress_interval=3600.0), [recorder], run_dir=run_dir, bundle=bundle).fit()
    # Only each epoch's first batch (so speed and time left show after one batch) and its
    # last batch report when the interval never elapses.
    assert [(b.epoch, b.batch) for b in recorder.of("batch")] == [(1, 1), (1, 7), (2, 1), (2, 7)]
    first = recorder.of("batch")[0]
    assert first.images_per_s > 0 and first.eta_s > 0 and first.elapsed_s > 0
    assert [name for name, _ in recorder.events][:2] == ["fit_start", "batch"]


def test_metrics_jsonl_has_one_line_per_epoch(run_dir: Path, bundle) -> None:
    Trainer(tiny_config(epochs=3), run_dir=run_dir, bundle=bundle).fit()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr", "seconds", "images_per_s"):
            assert isinstance(row[key], float) and math.isfinite(row[key]), key
    assert json.loads((run_dir / "spec.json").read_text())["classes"] == list(bundle.spec.classes)
    saved = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert saved.arch_options == {"activation": "relu", "pool": "max"} and saved.input_size == 16


@pytest.mark.slow
def test_googlenet_reports_its_auxiliary_losses_and_no_top5_below_five_classes(run_dir: Path) -> None:
    bundle = make_bundle(classes=3, per_class=4, size=79, channels=3)
    recorder = Recorder()
    config = TrainConfig(arch="googlenet", dataset="blocks", input_size=79, epochs=1, batch_size=5, lr=0.01,
                         device="cpu", progress_interval=0.0, num_threads=1)
    Trainer(config, [recorder], run_dir=run_dir, bundle=bundle).fit()
    epoch: EpochStats = recorder.of("epoch")[0]
    assert len(epoch.aux_losses) == 2 and min(epoch.aux_losses) > 0
    assert epoch.val_top5 is None
    assert all(len(b.aux_losses) == 2 for b in recorder.of("batch"))


def test_snapshot_model_is_a_cpu_eval_copy_taken_between_batches(run_dir: Path, bundle) -> None:
    snapshots: list[tuple[torch.nn.Module, dict[str, torch.Tensor]]] = []
    still_training: list[bool] = []

    class Snap(Callback):
        def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
            if stats.batch == 3:
                state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
                snapshots.append((trainer.snapshot_model(), state))
                still_training.append(trainer.model.training)

    trainer = Trainer(tiny_config(epochs=1), [Snap()], run_dir=run_dir, bundle=bundle)
    trainer.fit()
    snapshot, state_then = snapshots[0]
    assert not snapshot.training
    assert all(t.device.type == "cpu" for t in snapshot.state_dict().values())
    for name, tensor in state_then.items():
        assert torch.equal(snapshot.state_dict()[name], tensor), name
    assert still_training == [True]  # the training model itself was left in train mode
    assert not torch.equal(snapshot.state_dict()["features.c1.weight"], trainer.model.state_dict()["features.c1.weight"])
    x = torch.randn(2, 1, 16, 16)
    assert snapshot(x).shape == (2, 6)


def test_bad_settings_fail_before_any_work() -> None:
    with pytest.raises(CnnStudioError, match="epochs must be a whole number from 1 to"):
        Trainer(tiny_config(epochs=0))
    with pytest.raises(CnnStudioError, match="lenet5 needs inputs of at least 16×16"):
        Trainer(tiny_config(input_size=8))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_says_so(run_dir: Path, bundle) -> None:
    with pytest.raises(TrainingError, match="device cuda is not available: no CUDA GPU was found"):
        Trainer(tiny_config(device="cuda"), run_dir=run_dir, bundle=bundle).fit()
    assert not run_dir.exists()
