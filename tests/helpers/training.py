"""Tiny, learnable synthetic data, fast configs and a recording callback for the training tests.

Imported as `from tests.helpers.training import ...` (see tests/helpers/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnstudio.data.loaders import DatasetBundle, ImageSet
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.config import TrainConfig


def make_bundle(*, classes: int = 6, per_class: int = 12, size: int = 16, channels: int = 1, seed: int = 0) -> DatasetBundle:
    """Grey noise with one bright block whose position is the class: learnable in a few batches."""
    generator = torch.Generator().manual_seed(seed)
    n = classes * per_class
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = torch.randint(0, 60, (n, channels, size, size), generator=generator, dtype=torch.uint8)
    block = size // 4
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 4)
        images[i, :, row * block:(row + 1) * block, col * block:(col + 1) * block] = 250
    val = torch.arange(n) % 4 == 0
    spec = DatasetSpec(name="blocks", channels=channels, classes=tuple(f"c{i}" for i in range(classes)),
                       mean=(0.2,) * channels, std=(0.3,) * channels, native_size=size)
    return DatasetBundle(spec, ImageSet(labels[~val], images[~val]), ImageSet(labels[val], images[val]))


def make_block_folder(root: Path, *, per_class: int = 8) -> Path:
    """An image folder of two classes told apart by where a bright block is (16×16 PNGs): a real
    dataset on disk for the faces (`--dataset FOLDER`, the window's queue) that trains in a blink."""
    from PIL import Image

    for label, corner in (("left", 0), ("right", 8)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("L", (16, 16), 20 + 3 * i)
            image.paste(240, (corner, 4, corner + 8, 12))
            image.save(root / label / f"{i}.png")
    return root


def folder_config(folder: Path, **changes: object) -> TrainConfig:
    """`tiny_config` on an image folder made by `make_block_folder` (loaded by the trainer itself)."""
    return tiny_config(dataset=str(folder), batch_size=4, val_fraction=0.25, **changes)


def tiny_config(**changes: object) -> TrainConfig:
    """LeNet-5 (ReLU, max-pool) at 16×16 on the block data: an epoch takes milliseconds.

    One thread: ops this small only lose to thread hand-offs, badly so on a busy 2-core box.
    """
    base = TrainConfig(arch="lenet5", arch_options={"activation": "relu", "pool": "max"}, dataset="blocks",
                       input_size=16, epochs=2, batch_size=8, optimizer="sgd", lr=0.05, weight_decay=0.0,
                       device="cpu", progress_interval=0.0, num_threads=1)
    return base.replace(**changes)


class Recorder(Callback):
    """Keeps every hook call in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_fit_start(self, trainer: object, info: object) -> None:
        self.events.append(("fit_start", info))

    def on_batch_end(self, trainer: object, stats: object) -> None:
        self.events.append(("batch", stats))

    def on_epoch_end(self, trainer: object, stats: object) -> None:
        self.events.append(("epoch", stats))

    def on_notice(self, trainer: object, message: object) -> None:
        self.events.append(("notice", message))

    def on_fit_end(self, trainer: object, result: object) -> None:
        self.events.append(("fit_end", result))

    def on_exception(self, trainer: object, exc: object) -> None:
        self.events.append(("exception", exc))

    def of(self, kind: str) -> list:
        return [payload for name, payload in self.events if name == kind]


def write_history_run(run_dir, *, val_accs, lr: float = 0.01, arch_options=None, seconds: float = 1.0,
                      val_top5=None, status: str = "finished"):
    """A lenet5 run folder as the trainer leaves it (the engine's RunWriter: config, spec,
    one metrics line per epoch, a last.pt that holds them, run.json), with the given
    validation top-1 per epoch and no training: for views and verbs that read histories."""
    from pathlib import Path

    from cnnstudio.training.records import EpochStats
    from cnnstudio.training.store.runs import RunWriter

    run_dir = Path(run_dir)
    config = TrainConfig(arch="lenet5", dataset="mnist-sample", epochs=len(val_accs), input_size=32, lr=lr,
                         arch_options=dict(arch_options or {}))
    spec = DatasetSpec(name="mnist-sample", channels=1, classes=tuple("0123456789"), mean=(0.13,), std=(0.31,),
                       native_size=28)
    writer = RunWriter(run_dir)
    writer.start(config, spec.to_dict())
    for epoch, acc in enumerate(val_accs, start=1):
        writer.append_metrics(EpochStats(
            epoch=epoch, epochs=len(val_accs), train_loss=2.0 - acc, train_acc=acc, val_loss=1.5 - acc, val_acc=acc,
            val_top5=val_top5, lr=lr, seconds=seconds, images_per_s=1000.0 / seconds, is_best=True).to_row())
    writer.save_last({"epoch": len(val_accs)})
    writer.finish(status)
    return run_dir
