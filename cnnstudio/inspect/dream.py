"""What excites a unit: an input image optimised by gradient ascent (activation maximisation).

For a conv layer's channel the objective is the channel's mean output (the convolution's
output, before its activation; an Inception block's concatenated output), for a class its
logit. The image is a parameter in pixel space or, as Lucid/Lucent's `fft_image`, in Fourier
space with each frequency scaled by 1/f (so low frequencies move first and the picture stays
smooth); three-channel images are decorrelated with Lucid's colour matrix. A sigmoid squashes
it into valid pixels 0..1, which are normalised with the *dataset's* mean/std at the model's
input size and channel count (grey for LeNet-5 on MNIST).

Every step sees the image through random robustness transforms (pad, jitter, scale,
rotate), scaled to the input side (`robustness_for`): Lucent's pad 12 / jitter 8 / ±10 % /
±10° at 224 px would tear a 32-px digit apart. They act on the normalised input, where a pad
of 0 is the dataset's mean colour (resampling commutes with the per-channel normalisation).
Adam at lr 0.05 over 256 steps, optional total-variation and L2 penalties.

All targets of one call share one batch: image i optimises target i alone (eval mode, so no
image sees another's statistics, and Adam is per element), so 16 channels cost about one
optimisation. The model is left exactly as it was: parameters are frozen only for the call
(their `requires_grad` and the train/eval mode are restored), hooks are removed in `finally`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.choices import ImageParam
from cnnstudio.data.transforms import normalise
from cnnstudio.errors import Cancelled, CnnStudioError, UnknownNameError
from cnnstudio.threads import threads_for_work, use_torch_threads
from cnnstudio.inspect.cam import CamLayer, cam_layers, resolve_layer
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.inspect.pictures import caption_grid
from cnnstudio.progress import ProgressFn

__all__ = ["CLASS_L2", "PARAMETERISATIONS", "Dream", "Robustness", "check_tile", "dream_channels", "dream_classes",
           "dream_grid", "dream_layers", "default_param", "robustness_for"]

PARAMETERISATIONS = ImageParam.values()
FOURIER_FROM = 64  # "auto": pixels below this side, Fourier from it (see default_param)
# A logit can grow without bound, and a class image chasing one alone saturates into blocks of
# black and white (or wins its logit and still loses to another class: the ReLU LeNet-5's "9"
# came out a "4"); a little L2 towards the dataset's mean keeps strokes (LeNet-5 on
# mnist-sample: digit-like at 0.25–1). Channel means are bounded by the data: no default there.
CLASS_L2 = 0.5
MIN_TILE, MAX_TILE = 8, 512  # dream_grid's tile side: 256 images of 512 px are a 5,000 × 14,000 grid already
MAX_TARGETS = 256  # one batch; more would be a memory surprise (ImageNet's 1000 classes at 224 px)

# Lucid's colour decorrelation: the square root of ImageNet's colour correlation, columns normalised.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOUR = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()


@dataclass(frozen=True, eq=False)
class Dream:
    """Images optimised for targets, and what the network makes of them.

    `images` uint8 N×H×W×C (C = the model's channels); `kind` "channel" or "class"; `layer` the
    conv layer of the channels (None for classes); `targets` channel or class indices, `names`
    their labels; `objective` / `start` the final image's / the random start's objective (mean
    channel output or logit, without transforms); `probs` N×classes softmax of the final images.
    """

    images: np.ndarray
    kind: str
    layer: str | None
    targets: tuple[int, ...]
    names: tuple[str, ...]
    objective: np.ndarray
    start: np.ndarray
    probs: np.ndarray
    classes: tuple[str, ...]
    param: str
    steps: int
    seed: int
    seconds: float

    def target_probs(self) -> np.ndarray:
        """Class mode: the network's probability for each image's own class."""
        if self.kind != "class":
            raise CnnStudioError("only class images have a target class")
        return self.probs[np.arange(len(self.targets)), list(self.targets)]

    def predicted(self, i: int) -> tuple[str, float]:
        """What the network calls image `i`, and its probability."""
        k = int(self.probs[i].argmax())
        return (self.classes[k] if k < len(self.classes) else str(k)), float(self.probs[i, k])

    def captions(self) -> list[str]:
        """One caption per image: class mode the net's p for its class, channel mode the objective's rise."""
        if self.kind == "class":
            # Three decimals: a trained net is near-certain of its own class images, and 0.998 and
            # 0.951 both round to "1.00" at two.
            return [f"{name}\np = {p:.3f}" for name, p in zip(self.names, self.target_probs())]
        return [f"{name}\nmean {s:.3g} → {o:.3g}" for name, s, o in zip(self.names, self.start, self.objective)]


@dataclass(frozen=True)
class Robustness:
    """Random transforms per step, in pixels of the input: pad, jitter (twice, as Lucent), scale ±, rotate ±°."""

    pad: int
    jitter: int
    scale: float
    rotate: float
    late_jitter: int


def robustness_for(size: int) -> Robustness:
    """The transforms for inputs of side `size`: 32 px pad 2, jitter 2 + 1, ±5 %, ±5°; 224 px Lucent's
    pad 12, jitter 8 + 4, ±10 %, ±10°; linear between, pixel amounts shrunk with the side below 32."""
    t = min(max((size - 32) / (224 - 32), 0.0), 1.0)
    shrink = min(size / 32, 1.0)

    def px(small: float, large: float) -> int:
        return max(1, round((small + t * (large - small)) * shrink))

    return Robustness(pad=px(2, 12), jitter=px(2, 8), scale=0.05 + 0.05 * t, rotate=5 + 5 * t,
                      late_jitter=px(1, 4))


def default_param(size: int) -> str:
    """"auto"'s choice: Fourier from 64 px; pixels below, where a 32-px spectrum has too few
    frequencies to smooth anything (LeNet-5's digits came out speckled in Fourier space, clean in pixels)."""
    return "fourier" if size >= FOURIER_FROM else "pixel"


def dream_layers(trained: TrainedModel) -> tuple[CamLayer, ...]:
    """The layers whose channels can be optimised: every conv layer and Inception block, with its output shape."""
    return cam_layers(trained.model, (trained.in_channels, trained.input_size, trained.input_size))


def _find_layer(trained: TrainedModel, layer: str) -> CamLayer:
    """A layer by its full name ("features.c3") or a unique last part ("c3")."""
    arch = getattr(trained.model, "arch_name", type(trained.model).__name__)
    return resolve_layer(dream_layers(trained), layer, owner=arch)


def _class_index(trained: TrainedModel, target: int | str, num_classes: int) -> int:
    if isinstance(target, str) and target in trained.classes:
        return trained.classes.index(target)
    try:
        index = int(target)
    except ValueError:
        shown = ", ".join(trained.classes[:20]) + (" …" if len(trained.classes) > 20 else "")
        raise UnknownNameError(f"no class {target!r}; the classes are: {shown}") from None
    if not 0 <= index < num_classes:
        raise UnknownNameError(f"class index {index} is outside 0..{num_classes - 1}")
    return index


def _check(count: int, steps: int, param: str, tv: float, l2: float) -> None:
    if count < 1:
        raise CnnStudioError("nothing to optimise: give at least one channel or class")
    if count > MAX_TARGETS:
        raise CnnStudioError(f"at most {MAX_TARGETS} images at once; asked for {count}")
    if steps < 1:
        raise CnnStudioError(f"the number of steps must be at least 1; got {steps}")
    if param not in PARAMETERISATIONS:
        raise UnknownNameError(f"unknown parameterisation {param!r}: choose from {', '.join(PARAMETERISATIONS)}")
    if not (math.isfinite(tv) and math.isfinite(l2)):  # nan would be optimised into an image that says "p = nan"
        raise CnnStudioError(f"the total-variation and L2 weights must be finite numbers; got {tv} and {l2}")
    if tv < 0 or l2 < 0:
        raise CnnStudioError("the total-variation and L2 weights cannot be negative")


# ---------------------------------------------------------------------------- the image


class _Image:
    """The optimised parameter and its map to pixels 0..1 (N×C×S×S)."""

    def __init__(self, n: int, channels: int, size: int, param: str, generator: torch.Generator,
                 device: torch.device) -> None:
        self.channels, self.size, self.fourier = channels, size, param == "fourier"
        if self.fourier:  # Lucent's fft_image: a half spectrum (real, imaginary), scaled by 1/f
            fy = torch.fft.fftfreq(size)[:, None]
            fx = torch.fft.rfftfreq(size)[None, :]
            freqs = (fx * fx + fy * fy).sqrt()
            self.scale = (1.0 / freqs.clamp(min=1.0 / size))[None, None, ..., None].to(device)
            shape: tuple[int, ...] = (n, channels, *freqs.shape, 2)
        else:
            shape = (n, channels, size, size)
        # Lucid's start: near 0, so every pixel begins mid-grey, where the sigmoid is steepest and a
        # pixel is as free to go dark as bright. (Starting at the dataset's mean instead, MNIST's
        # near-black, left the tanh LeNet-5's class images faint: its logits saturate first.)
        self.tensor = (torch.randn(shape, generator=generator) * 0.01).to(device).requires_grad_(True)

    def pixels(self) -> torch.Tensor:
        x = self.tensor
        if self.fourier:
            spectrum = torch.view_as_complex((self.scale * x).contiguous())
            x = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0  # Lucid's "magic" 4
        if self.channels == 3:
            x = torch.einsum("nchw,dc->ndhw", x, _COLOUR.to(x.device))
        return torch.sigmoid(x)


def _transform(x: torch.Tensor, rob: Robustness, generator: torch.Generator) -> torch.Tensor:
    """One random pad + jitter + scale + rotation per image, back at the input size (normalised x)."""
    n, _c, s, _ = x.shape
    padded = F.pad(x, (rob.pad,) * 4)  # 0 here is the dataset's mean colour
    side = s + 2 * rob.pad
    r = torch.rand((n, 6), generator=generator)
    angle = (r[:, 0] * 2 - 1) * rob.rotate * torch.pi / 180
    zoom = 1 + (r[:, 1] * 2 - 1) * rob.scale

    def shift(u: torch.Tensor, j: int) -> torch.Tensor:  # a whole number of pixels in -j..j
        return (u * (2 * j + 1)).floor() - j

    dx = shift(r[:, 2], rob.jitter) + shift(r[:, 4], rob.late_jitter)
    dy = shift(r[:, 3], rob.jitter) + shift(r[:, 5], rob.late_jitter)
    k = s / side / zoom  # the output's [-1, 1] covers the central s pixels of the padded image, zoomed
    cos, sin = angle.cos() * k, angle.sin() * k
    theta = torch.stack([torch.stack([cos, -sin, 2 * dx / side], 1), torch.stack([sin, cos, 2 * dy / side], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), [n, x.shape[1], s, s], align_corners=False)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _penalties(pixels: torch.Tensor, x: torch.Tensor, tv: float, l2: float) -> torch.Tensor:
    """Per image: total variation of the pixels (mean |neighbour difference|), L2 of the normalised input."""
    out = torch.zeros(pixels.shape[0], device=pixels.device)
    if tv:
        out = out + tv * ((pixels[..., 1:, :] - pixels[..., :-1, :]).abs().mean((1, 2, 3))
                          + (pixels[..., :, 1:] - pixels[..., :, :-1]).abs().mean((1, 2, 3)))
    if l2:
        out = out + l2 * x.square().mean((1, 2, 3))
    return out


# ---------------------------------------------------------------------------- optimisation


class _Reached(Exception):
    """Raised by the layer's hook: nothing after the layer is needed for its objective."""


def _step_macs(model: nn.Module, channels: int, size: int, n: int) -> float:
    """Multiply-adds of one optimisation step: a forward and a backward (≈ 2×) of `n` images."""
    from cnnstudio.inspect.summary import summarize

    return 3.0 * n * summarize(model, (channels, size, size)).total_macs


def _optimise(trained: TrainedModel, objective: Callable[[nn.Module, torch.Tensor, bool], torch.Tensor], n: int,
              *, steps: int, param: str, lr: float, tv: float, l2: float, seed: int,
              progress: ProgressFn | None, cancel: Callable[[], bool] | None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 images N×H×W×C, objective at the start, at the end, softmax of the final images).

    `objective(model, x, early)` gives each image's value (N); `early` says it may stop the
    forward pass once it has what it needs (the optimisation's steps; not the final look).
    """
    model, size, channels = trained.model, trained.input_size, trained.in_channels
    device = trained.device
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        use_torch_threads(threads_for_work(_step_macs(model, channels, size, n)))
    generator = torch.Generator().manual_seed(seed)
    image = _Image(n, channels, size, param, generator, device)
    rob = robustness_for(size)
    optimiser = torch.optim.Adam([image.tensor], lr=lr)
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    try:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            start = objective(model, normalise(image.pixels(), trained.spec, in_channels=channels), False)
        with torch.enable_grad():
            for step in range(steps):
                if cancel is not None and cancel():
                    raise Cancelled("activation maximisation cancelled")
                optimiser.zero_grad(set_to_none=True)
                pixels = image.pixels()
                x = normalise(pixels, trained.spec, in_channels=channels)
                values = objective(model, _transform(x, rob, generator), True)
                (_penalties(pixels, x, tv, l2) - values).sum().backward()
                optimiser.step()
                if progress is not None:
                    progress(step + 1, steps, "optimising")
        with torch.no_grad():
            pixels = image.pixels()
            x = normalise(pixels, trained.spec, in_channels=channels)
            final = objective(model, x, False)
            probs = torch.softmax(model(x).float(), dim=1)
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
        torch.set_num_threads(threads)
    images = (pixels * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return (images.cpu().numpy(), start.float().cpu().numpy(), final.float().cpu().numpy(),
            probs.cpu().numpy())


def dream_classes(trained: TrainedModel, classes: Sequence[int | str] | None = None, *, steps: int = 256,
                  param: str = "auto", lr: float = 0.05, tv: float = 0.0, l2: float = CLASS_L2, seed: int = 0,
                  progress: ProgressFn | None = None,
                  cancel: Callable[[], bool] | None = None) -> Dream:
    """One image per class (names or indices; None: every class) that maximises its logit, all in one batch.

    `l2` (default `CLASS_L2`) weighs the mean square of the normalised input: a pull towards the
    dataset's mean colour; `tv` the total variation of the pixels. `progress(done, total)` counts
    steps; `cancel()` returning True raises `errors.Cancelled` before the next one.
    """
    num_classes = len(trained.classes)
    targets = list(range(num_classes)) if classes is None else [_class_index(trained, c, num_classes) for c in classes]
    _check(len(targets), steps, param, tv, l2)
    param = default_param(trained.input_size) if param == "auto" else param
    index = torch.tensor(targets, device=trained.device)

    def logits(model: nn.Module, x: torch.Tensor, _early: bool) -> torch.Tensor:
        return model(x).gather(1, index[:, None])[:, 0]

    started = time.perf_counter()
    images, start, final, probs = _optimise(trained, logits, len(targets), steps=steps, param=param, lr=lr, tv=tv,
                                            l2=l2, seed=seed, progress=progress, cancel=cancel)
    names = tuple(trained.classes[t] if t < len(trained.classes) else str(t) for t in targets)
    return Dream(images, "class", None, tuple(targets), names, final, start, probs, trained.classes, param, steps,
                 seed, time.perf_counter() - started)


def dream_channels(trained: TrainedModel, layer: str, channels: Sequence[int] | None = None, *, steps: int = 256,
                   param: str = "auto", lr: float = 0.05, tv: float = 0.0, l2: float = 0.0, seed: int = 0,
                   progress: ProgressFn | None = None,
                   cancel: Callable[[], bool] | None = None) -> Dream:
    """One image per channel of `layer` (default: its first 16) that maximises the channel's mean output.

    `layer` is a conv layer or Inception block (`dream_layers`), by full name or a unique last
    part ("c3" for "features.c3"). Penalties, progress and cancel as in `dream_classes`.
    """
    entry = _find_layer(trained, layer)
    count = entry.shape[0]
    targets = list(range(min(16, count))) if channels is None else [int(c) for c in channels]
    bad = [c for c in targets if not 0 <= c < count]
    if bad:
        raise UnknownNameError(f"{entry.name} has {count} channels (0..{count - 1}); no channel {bad[0]}")
    _check(len(targets), steps, param, tv, l2)
    param = default_param(trained.input_size) if param == "auto" else param
    module = dict(trained.model.named_modules())[entry.name]
    index = torch.tensor(targets, device=trained.device)
    kept: dict[str, torch.Tensor] = {}

    def channel_means(model: nn.Module, x: torch.Tensor, early: bool) -> torch.Tensor:
        def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            kept["out"] = out
            if early:  # while optimising: the rest of the network adds nothing to this objective
                raise _Reached

        handle = module.register_forward_hook(hook)
        try:
            model(x)
        except _Reached:
            pass
        finally:
            handle.remove()
        out = kept.pop("out")
        return out[torch.arange(out.shape[0], device=out.device), index].mean(dim=(1, 2))

    started = time.perf_counter()
    images, start, final, probs = _optimise(trained, channel_means, len(targets), steps=steps, param=param, lr=lr,
                                            tv=tv, l2=l2, seed=seed, progress=progress, cancel=cancel)
    names = tuple(f"channel {c}" for c in targets)
    return Dream(images, "channel", entry.name, tuple(targets), names, final, start, probs, trained.classes, param,
                 steps, seed, time.perf_counter() - started)


def check_tile(tile: int) -> None:
    """A grid's tile side is MIN_TILE..MAX_TILE pixels (checked before minutes of optimising, too)."""
    if not MIN_TILE <= tile <= MAX_TILE:
        raise CnnStudioError(f"the grid's tiles are {MIN_TILE} to {MAX_TILE} pixels; got {tile}")


def dream_grid(dream: Dream, *, tile: int = 112, columns: int | None = None) -> np.ndarray:
    """The images as one captioned picture (uint8 H×W×3): 4 columns for 16, up to 10 a row."""
    check_tile(tile)
    cols = columns or (4 if len(dream.targets) == 16 else min(10, len(dream.targets)))
    return caption_grid(list(dream.images), dream.captions(), tile=tile, columns=cols)
