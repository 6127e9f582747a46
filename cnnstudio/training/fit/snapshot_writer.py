"""The run's history recorder: snapshots of the first conv layer's kernels and of the probes'
feature maps, written into `RUN/history/` (the format and its readers: `store.snapshots`).

It is an observer of the fit (`Callback` with `observer = True`, rank 0 only): its failures
end the history with a notice, never the training. It snapshots the initial weights, epoch 1
after batches 1, 10 and 100 (learning changes fastest there) and every epoch's end, between
batches under the trainer's model lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.files import readable
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.store.snapshots import (
    EARLY_BATCHES, MAP_LAYERS, MAX_MAP_CHANNELS, MAX_MAP_SIDE, MAX_PROBES, PROBES_FILE, Probes, history_dir,
    list_snapshots, npz_bytes, read_probes, snapshot_name, write_snapshot_file,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnnstudio.training.fit.step import StepOutput
    from cnnstudio.training.fit.trainer import Trainer
    from cnnstudio.training.records import EpochStats, FitStart, StepInfo

__all__ = ["HistoryWriter", "SnapshotRecorder", "choose_probes", "map_layer_names"]


class SnapshotRecorder(Callback):
    """Writes the run's history as the fit goes (see the module's docstring)."""

    observer = True
    rank_zero_only = True
    title = "the run's history (kernels and feature maps across training)"

    def __init__(self) -> None:
        self.writer: HistoryWriter | None = None

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        self.writer = HistoryWriter(trainer.run_dir)
        self.writer.start(trainer.bare_model, trainer.bundle, input_size=int(trainer.config.input_size),
                          device=trainer.device, resumed_at=trainer.resume_point)
        if trainer.resume_point is None:
            self._snapshot(trainer, 1, 0, info.batches_per_epoch)  # the initial weights

    def on_train_batch_end(self, trainer: Trainer, step: StepInfo, output: StepOutput) -> None:
        if step.epoch == 1 and step.batch in EARLY_BATCHES and step.batch < step.num_batches:
            self._snapshot(trainer, step.epoch, step.batch, step.num_batches)

    def on_epoch_validated(self, trainer: Trainer, stats: EpochStats) -> None:
        batches = trainer.batches_per_epoch
        self._snapshot(trainer, stats.epoch, batches, batches)

    def _snapshot(self, trainer: Trainer, epoch: int, batch: int, batches: int) -> None:
        assert self.writer is not None
        with trainer.model_lock:  # held already inside a step (a re-entrant lock): no live copy sees half a step
            self.writer.snapshot(trainer.bare_model, epoch=epoch, batch=batch, batches=batches,
                                 global_step=trainer.global_step, max_batch=trainer.batch_size)



def map_layer_names(model: nn.Module) -> list[str]:
    """The layers whose maps are stored: the first `MAP_LAYERS` conv layers larger than 1×1
    (a 1×1 conv only remixes the maps before it: GoogLeNet's conv2_reduce is skipped)."""
    from cnnstudio.models.graph import layer_graph

    names = [node.name for node in layer_graph(model).leaves("conv") if node.kernel != (1, 1)]
    return names[:MAP_LAYERS]


def choose_probes(labels: Sequence[int], num_classes: int) -> list[int]:
    """Indices of the probes: for each of the first `MAX_PROBES` classes, its lowest-index image."""
    first: dict[int, int] = {}
    for index, label in enumerate(labels):
        label = int(label)
        if label < MAX_PROBES and label not in first:
            first[label] = index
            if len(first) == min(num_classes, MAX_PROBES):
                break
    return [first[c] for c in sorted(first)]


class _Enough(Exception):
    """Raised by the last stored layer's hook: the rest of the forward pass is not needed."""


class HistoryWriter:
    """Writes one run's history; used by the trainer (rank 0), one call per snapshot.

    `start` keeps the probes of the run's first fit (choosing and saving them only when there
    are none) and drops snapshots later than the checkpoint a resume starts from.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.folder = history_dir(run_dir)
        self._x: torch.Tensor | None = None  # the probes as model input, on the device
        self._layers: list[str] = []

    def start(self, model: nn.Module, bundle: Any, *, input_size: int, device: Any,
              resumed_at: tuple[int, int] | None = None) -> None:
        """Make the folder ready: leftovers of a killed save removed, later snapshots dropped
        (`resumed_at`: the checkpoint's (epochs done, batches done in the next epoch)), the probes
        loaded or chosen. Take the run's lock first."""
        import torch

        from cnnstudio.data.transforms import from_model_input, to_model_input

        self.folder.mkdir(parents=True, exist_ok=True)
        if self.folder.is_symlink():  # its snapshots would be written, and its temp files removed, elsewhere
            raise ValueError(f"{readable(str(self.folder))} is a link, not the run's own folder: no history is kept")
        for entry in os.scandir(self.folder):
            if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)  # a kill during an atomic save: never a finished file
        if resumed_at is not None:
            done, batch = resumed_at
            for snap in list_snapshots(self.folder.parent).snapshots:
                if snap.epoch > done + 1 or (snap.epoch == done + 1 and snap.batch > batch):
                    snap.path.unlink(missing_ok=True)  # the resume trains that part again
        spec = bundle.spec
        kw = dict(input_size=input_size, in_channels=spec.channels)
        probes = read_probes(self.folder.parent)
        if probes is None or probes.images.shape[1:] != (spec.channels, input_size, input_size):
            split, name = (bundle.val, "validation") if len(bundle.val) else (bundle.train, "training")
            labels = split.labels.tolist()
            picks = choose_probes(labels, len(spec.classes))
            raw = [self._image(split, i, spec.channels) for i in picks]
            images = (torch.cat([from_model_input(to_model_input(img, spec, **kw), spec, in_channels=spec.channels)
                                 for img in raw]) if raw else torch.zeros((0, spec.channels, input_size, input_size),
                                                                           dtype=torch.uint8))
            probes = Probes(images.numpy(), np.array([labels[i] for i in picks], dtype=np.int64),
                            np.array(picks, dtype=np.int64), name)
            write_snapshot_file(self.folder / PROBES_FILE, npz_bytes({"split": name}, {
                "images": probes.images, "labels": probes.labels, "indices": probes.indices}))
        self._x = to_model_input(torch.from_numpy(probes.images), spec, **kw).to(device) if len(probes.images) else None
        self._layers = map_layer_names(model)

    @staticmethod
    def _image(split: Any, index: int, channels: int) -> torch.Tensor:
        if split.images is not None:
            return split.images[index]
        from cnnstudio.data.images import image_to_tensor, load_image

        return image_to_tensor(load_image(split.paths[index]), channels)  # a streaming folder's file

    def snapshot(self, model: nn.Module, *, epoch: int, batch: int, batches: int, global_step: int,
                 max_batch: int | None = None) -> Path:
        """Write the snapshot of `model` now (eval mode for the probes' pass, no gradients; the
        model's mode restored, BatchNorm's running statistics untouched). The probes go through
        at most `max_batch` at a time (the training's batch size: what is known to fit)."""
        import time

        import torch

        from cnnstudio.models.graph import first_conv

        kernel_layer, conv = first_conv(model)
        arrays: dict[str, np.ndarray] = {"kernels": conv.weight.detach().to("cpu", torch.float16).numpy()}
        shapes: list[list[int]] = []
        if self._x is not None and self._layers:
            chunks = [self._probe_pass(model, x) for x in self._x.split(max(1, max_batch or len(self._x)))]
            shapes = chunks[0][1]
            for i in range(len(self._layers)):
                maps = torch.cat([reduced[i] for reduced, _shapes in chunks])
                low = maps.amin(dim=(2, 3), keepdim=True)
                high = maps.amax(dim=(2, 3), keepdim=True)
                q = ((maps - low) / (high - low).clamp_min(1e-12) * 255).round_().clamp_(0, 255).to(torch.uint8)
                arrays[f"maps{i}"] = q.cpu().numpy()
                arrays[f"ranges{i}"] = torch.cat([low, high], dim=3)[:, :, 0, :].cpu().numpy()
        meta = {"epoch": epoch, "batch": batch, "batches": batches, "global_step": global_step, "time": time.time(),
                "kernel_layer": kernel_layer, "map_layers": self._layers if shapes else [], "map_shapes": shapes}
        path = self.folder / snapshot_name(epoch, batch)
        write_snapshot_file(path, npz_bytes(meta, arrays))
        return path

    def _probe_pass(self, model: nn.Module, x: Any) -> tuple[list[Any], list[list[int]]]:
        """The stored layers' maps of probes `x`, capped (channels, side) as stored, and each
        layer's whole output shape per image; the forward stops after the last stored layer."""
        import torch
        import torch.nn.functional as F

        modules = dict(model.named_modules())
        last = self._layers[-1]
        captured: dict[str, torch.Tensor] = {}

        def hook_for(name: str) -> Any:
            def hook(_m: Any, _i: Any, out: torch.Tensor) -> None:
                captured[name] = out.detach()
                if name == last:
                    raise _Enough
            return hook

        handles = [modules[name].register_forward_hook(hook_for(name)) for name in self._layers]
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(x)
        except _Enough:
            pass
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
        reduced, shapes = [], []
        for name in self._layers:
            out = captured.pop(name).float()
            shapes.append([int(v) for v in out.shape[1:]])
            out = out[:, :MAX_MAP_CHANNELS]
            h, w = out.shape[2:]
            if max(h, w) > MAX_MAP_SIDE:
                out = F.adaptive_avg_pool2d(out, (min(h, MAX_MAP_SIDE), min(w, MAX_MAP_SIDE)))
            reduced.append(out)
        return reduced, shapes
