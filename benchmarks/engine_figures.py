"""Benchmark sections that need no window: (b) the data path and (f) every architecture's speed.

Also the bare PyTorch training step that (a) compares the app against: plain SGD on
tensors, with the trainer's device settings (bf16/fp16 autocast and channels_last on
CUDA), so a ratio below 1 is the cost of everything around the step, not of a different
step.
"""

from __future__ import annotations

import struct
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from timing import Figure, Section, median, sync

__all__ = ["ReadyBatches", "bare_step", "data_path", "epoch_rate", "place", "throughput", "write_mnist_idx"]

# The papers' SGD recipe, as TrainConfig's defaults.
_SGD = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def _autocast(device: torch.device) -> Any:
    """The trainer's autocast: bf16 where the GPU has it, else fp16; none on the CPU."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def bare_step(model: nn.Module, device: torch.device, *, aux_weight: float = 0.3) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One plain training step for `model` (already on `device`): forward, loss, backward, SGD."""
    optimizer = torch.optim.SGD(model.parameters(), **_SGD)
    channels_last = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            out = model(x)
            if isinstance(out, tuple):  # GoogLeNet's auxiliary heads, weighed as the trainer does
                logits, aux1, aux2 = out
                loss = F.cross_entropy(logits, y) + aux_weight * (F.cross_entropy(aux1, y) + F.cross_entropy(aux2, y))
            else:
                loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def place(model: nn.Module, device: torch.device) -> nn.Module:
    fmt = torch.channels_last if device.type == "cuda" else torch.preserve_format
    return model.to(device, memory_format=fmt)


# ---------------------------------------------------------------------------- (b) data path


def write_mnist_idx(root: Path, images: torch.Tensor, labels: torch.Tensor, *, test_images: torch.Tensor,
                    test_labels: torch.Tensor) -> Path:
    """Write uint8 N×1×28×28 digits as MNIST's raw idx files, so `torchvision.datasets.MNIST` reads them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, imgs, labs in (("train", images, labels), ("t10k", test_images, test_labels)):
        n, _, h, w = imgs.shape
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x0803, n, h, w) + imgs.contiguous().numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x0801, n) + labs.to(torch.uint8).numpy().tobytes())
    return root


def _notes_loader(root: Path, *, size: int, mean: float, std: float, batch_size: int) -> Any:
    """The source notes' pipeline: a torchvision dataset, PIL transforms, a DataLoader (seed 000)."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.Resize((size, size)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[mean], std=[std]),
    ])
    dataset = datasets.MNIST(root=str(root), train=True, download=False, transform=transform)
    # The notes' DataLoader keeps num_workers at its default (0): decoding runs in the loop.
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)


def epoch_rate(loader: Any, device: torch.device, step: Callable[[torch.Tensor, torch.Tensor], None] | None,
                max_batches: int) -> float:
    """Images per second of one pass (up to `max_batches`), batches moved to `device` and trained on."""
    seen = 0
    sync(device)
    started = time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if i == max_batches:
            break
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if step is not None:
            step(x, y)
        seen += int(y.shape[0])
    sync(device)
    return seen / (time.perf_counter() - started)


class ReadyBatches:
    """Batches sliced from the whole split converted once: what a data path that costs nothing would feed."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: Any, *, size: int, batch_size: int,
                 device: torch.device) -> None:
        from cnnstudio.data.transforms import to_model_input

        self.x = to_model_input(images, spec, input_size=size, in_channels=spec.channels).to(device)
        self.y = labels.to(device)
        self.batch_size = batch_size

    def __iter__(self) -> Any:
        order = torch.randperm(self.y.numel(), device=self.y.device)
        for start in range(0, self.y.numel(), self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.x.index_select(0, index), self.y.index_select(0, index)


def data_path(*, device: torch.device, quick: bool) -> Section:
    """(b) The engine's `make_loader` against the notes' pipeline, training the same LeNet-5."""
    from cnnstudio.data.loaders import load_dataset, make_loader
    from cnnstudio.models.registry import build_model

    section = Section("b", "data path: engine vs the notes' pipeline (lenet5, mnist-sample, 32×32, batch 128)")
    bundle = load_dataset("mnist-sample", seed=0)
    spec, batch_size, size = bundle.spec, 128, 32
    max_batches = 6 if quick else 36  # 36 batches = one epoch of mnist-sample's 4,500 training digits
    rounds = 1 if quick else 5
    with tempfile.TemporaryDirectory(prefix="cnnstudio-bench-mnist-") as tmp:
        root = write_mnist_idx(Path(tmp), bundle.train.images, bundle.train.labels,
                               test_images=bundle.val.images, test_labels=bundle.val.labels)
        notes = _notes_loader(root, size=size, mean=spec.mean[0], std=spec.std[0], batch_size=batch_size)
        engine = make_loader(bundle.train, spec, batch_size=batch_size, input_size=size, in_channels=1,
                             train=True, device=device, seed=0)
        torch.manual_seed(0)
        model = place(build_model("lenet5", in_channels=1, num_classes=10), device)
        step = bare_step(model, device)
        ideal = ReadyBatches(bundle.train.images, bundle.train.labels, spec, size=size, batch_size=batch_size,
                              device=device)
        epoch_rate(engine, device, step, 2)  # warm-up: allocator, kernels, first-call costs
        epoch_rate(notes, device, step, 2)
        epoch_rate(ideal, device, step, 2)
        rates: dict[str, list[float]] = {"engine": [], "notes": [], "ideal": [], "engine_data_only": [],
                                         "notes_data_only": []}
        for _ in range(rounds):  # interleaved, so drift in the machine hits all alike
            rates["engine"].append(epoch_rate(engine, device, step, max_batches))
            rates["notes"].append(epoch_rate(notes, device, step, max_batches))
            rates["ideal"].append(epoch_rate(ideal, device, step, max_batches))
        rates["engine_data_only"].append(epoch_rate(engine, device, None, max_batches))
        rates["notes_data_only"].append(epoch_rate(notes, device, None, max_batches))
    med = {k: median(v) for k, v in rates.items()}
    ratio = med["engine"] / med["notes"]
    section.raw = {"images_per_s": rates, "batches_per_pass": max_batches, "batch_size": batch_size}
    section.figures.append(Figure(
        "b.ratio", "training with the engine's loader ÷ with the notes' pipeline", ratio, "×", "≥ 3×", ratio >= 3,
        f"{med['engine']:,.0f} vs {med['notes']:,.0f} img/s"))
    section.figures.append(Figure(
        "b.ceiling", "ceiling: data that costs nothing ÷ the notes' pipeline", med["ideal"] / med["notes"], "×",
        detail=f"{med['ideal']:,.0f} img/s: the model's own step, batches sliced from ready tensors; the "
               f"engine reaches {med['engine'] / med['ideal']:.0%} of it"))
    section.figures.append(Figure(
        "b.data_only", "loading alone, engine ÷ notes (no model)", med["engine_data_only"] / med["notes_data_only"],
        "×", detail=f"{med['engine_data_only']:,.0f} vs {med['notes_data_only']:,.0f} img/s"))
    return section


# ---------------------------------------------------------------------------- (f) throughput


def _throughput_plan(name: str, default_size: int, device: torch.device, quick: bool) -> tuple[int, int]:
    """(batch size, timed batches) for one architecture: small batches for big nets on the CPU."""
    if device.type == "cuda":
        return (512 if name == "lenet5" else 64), (20 if quick else 50)
    if default_size <= 64:
        return 128, (5 if quick else 20)
    return 2, (1 if quick else 2)


def throughput(*, device: torch.device, quick: bool, names: list[str] | None = None) -> Section:
    """(f) Training images/s of every architecture at its default input size (3 channels, 10 classes)."""
    from cnnstudio.models.catalog import list_models
    from cnnstudio.models.registry import build_model

    section = Section("f", f"training images/s at the default input size on {device}")
    infos = [info for info in list_models() if names is None or info.name in names]
    for info in infos:
        batch, timed = _throughput_plan(info.name, info.default_size, device, quick)
        channels = 1 if info.name == "lenet5" else 3  # LeNet-5's MNIST-sized digits; colour for the rest
        torch.manual_seed(0)
        model = place(build_model(info.name, in_channels=channels, num_classes=10), device)
        step = bare_step(model, device)
        x = torch.randn(batch, channels, info.default_size, info.default_size, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        warmup = 3 if device.type == "cuda" or info.default_size <= 64 else 1
        for _ in range(warmup):
            step(x, y)
        sync(device)
        started = time.perf_counter()
        for _ in range(timed):
            step(x, y)
        sync(device)
        rate = batch * timed / (time.perf_counter() - started)
        section.raw[info.name] = {"images_per_s": rate, "batch_size": batch, "timed_batches": timed,
                                  "input_size": info.default_size, "in_channels": channels}
        target, met = "", None
        if device.type == "cuda" and info.name == "lenet5":
            target, met = "≥ 200,000 img/s (GPU, batch 512)", rate >= 200_000
        section.figures.append(Figure(f"f.{info.name}", f"{info.name} at {info.default_size}×{info.default_size}",
                                      rate, "img/s", target, met, f"batch {batch}, {timed} timed"))
        del model, step, x, y
    return section
