"""A run's history as pictures: kernel and feature-map frames on one scale, a PNG or a GIF.

`KernelHistory.load(run)` reads every snapshot's kernels once (a VGG-16 history of 77
snapshots is 0.3 MB of them) and draws any frame at once; `MapHistory.load(run, layer)` does
the same for one stored layer's probe maps. Frames share one scale — the largest |value| over
every frame (per probe, for maps) — so moving through them shows real change, not each
frame's own contrast; `per_frame_contrast=True` scales a frame by its own largest |value| for
detail. numpy and Pillow only (no torch): the window's slider and `cnnstudio kernels` use it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnstudio.errors import CnnStudioError
from cnnstudio.inspect.kernels import kernel_grid, max_abs
from cnnstudio.training.store.snapshots import HistoryListing, Snapshot, list_snapshots, read_kernels, read_maps

if TYPE_CHECKING:
    from cnnstudio.training.store.runs import RunInfo

__all__ = ["MAX_GIF_FRAMES", "KernelHistory", "MapHistory", "NoHistoryError", "gif_frames", "history_gif",
           "run_kernel_shape", "to_uint8"]

#: A GIF shows at most this many snapshots, evenly spaced (the first and the last always among them).
MAX_GIF_FRAMES = 240
#: The kernels of one history held at once (float32): AlexNet's 2,005 snapshots are 280 MB. A longer
#: history is read at evenly spaced snapshots that fit, and says so.
MAX_KERNEL_BYTES = 512 * 1024 * 1024


class NoHistoryError(CnnStudioError):
    """The run has no snapshots (trained before history existed, or with --no-history)."""


def _listing(run: RunInfo | str | Path) -> tuple[Path, HistoryListing]:
    path = Path(getattr(run, "path", run))
    listing = list_snapshots(path)
    if not listing.snapshots:
        raise NoHistoryError(f"{path.name} has no history of its kernels (it was trained before cnnstudio kept one, "
                             "or with --no-history) — train a new run, or continue this one with --resume to start one")
    return path, listing


def _readable(listing: HistoryListing, read: object) -> tuple[list[Snapshot], list[np.ndarray], list[str]]:
    """Each snapshot's array by `read(snapshot)`; a file that changed or broke since the listing is left out."""
    kept, arrays, problems = [], [], list(listing.problems)
    for snap in listing.snapshots:
        try:
            arrays.append(read(snap))  # type: ignore[operator]
            kept.append(snap)
        except Exception as exc:  # noqa: BLE001 - one damaged file must not hide the rest
            problems.append(f"{snap.path.name} cannot be read ({exc}); it is left out of the history")
    return kept, arrays, problems


def run_kernel_shape(run: RunInfo | str | Path) -> tuple[int, ...] | None:
    """The weight shape of the run's first conv layer (O, I, kh, kw), from its config and spec with
    the network built on torch's meta device (no memory, milliseconds); None when it cannot be told."""
    try:
        import torch

        from cnnstudio.models.graph import first_conv
        from cnnstudio.models.registry import build_model
        from cnnstudio.training.store.runs import open_run

        info = run if hasattr(run, "config") else open_run(run)
        config, spec = info.config, info.spec
        with torch.device("meta"):
            model = build_model(config.arch, in_channels=spec.channels, num_classes=len(spec.classes),
                                **config.arch_options)
        return tuple(int(n) for n in first_conv(model)[1].weight.shape)
    except Exception:  # noqa: BLE001 - unknown: the snapshots' own majority decides
        return None


def _one_kernel_shape(listing: HistoryListing, expected: tuple[int, ...] | None = None) -> HistoryListing:
    """The snapshots whose kernels have the run's one shape — `expected`, else the one most of them
    have, the latest on a tie (a run's first layer never changes shape); each other one is left out
    with a note."""
    shapes = [s.kernel_shape for s in listing.snapshots]
    if len(set(shapes)) <= 1 and (expected is None or not shapes or shapes[0] == expected):
        return listing
    usual = tuple(expected) if expected is not None else max(reversed(shapes), key=shapes.count)
    odd = [s for s in listing.snapshots if s.kernel_shape != usual]
    notes = [f"{s.path.name}: its kernels are {'×'.join(map(str, s.kernel_shape))}, not the run's "
             f"{'×'.join(map(str, usual))}; it is left out of the history" for s in odd]
    return HistoryListing(tuple(s for s in listing.snapshots if s.kernel_shape == usual),
                          (*listing.problems, *notes))


def _within_budget(listing: HistoryListing) -> HistoryListing:
    """At most MAX_KERNEL_BYTES of kernels (by their headers): evenly spaced snapshots beyond it, with a note."""
    if not listing.snapshots:
        return listing
    each = 4 * int(np.prod(listing.snapshots[0].kernel_shape or (1,)))
    fits = max(2, MAX_KERNEL_BYTES // max(each, 1))
    if len(listing.snapshots) <= fits:
        return listing
    picks = gif_frames(len(listing.snapshots), fits)
    note = (f"{len(listing.snapshots):,} snapshots of {each / 1e6:.1f} MB of kernels each are more than "
            f"{MAX_KERNEL_BYTES // 2**20} MB: {len(picks):,} evenly spaced ones are shown")
    return HistoryListing(tuple(listing.snapshots[i] for i in picks), (*listing.problems, note))


@dataclass(frozen=True, eq=False)
class KernelHistory:
    """Every snapshot's first-layer kernels of one run, in training order."""

    run_dir: Path
    snapshots: tuple[Snapshot, ...]
    kernels: tuple[np.ndarray, ...]  # float32 O×I×kh×kw per snapshot
    problems: tuple[str, ...] = ()

    @classmethod
    def load(cls, run: RunInfo | str | Path, *, kernel_shape: tuple[int, ...] | None = None) -> KernelHistory:
        """Read a run's kernel history (`NoHistoryError` when it has none). `kernel_shape` is the
        run's first conv layer's weight shape (`run_kernel_shape`) when known: snapshots of any
        other are left out; without it, the shape most snapshots have is the run's."""
        path, listing = _listing(run)
        listing = _within_budget(_one_kernel_shape(listing, kernel_shape))
        kept, arrays, problems = _readable(listing, read_kernels)
        if not kept:
            raise NoHistoryError(f"none of {path.name}'s history snapshots can be read: {problems[0]}")
        return cls(path, tuple(kept), tuple(arrays), tuple(problems))

    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def scale(self) -> float:
        """The global scale: the largest |weight| over every frame."""
        return max(max_abs(k) for k in self.kernels)

    def frame(self, index: int, *, per_frame_contrast: bool = False) -> np.ndarray:
        """Snapshot `index`'s kernels as an H×W×3 picture in [0, 1] (zero is mid-grey)."""
        kernels = self.kernels[index]
        return kernel_grid(kernels, scale=max_abs(kernels) if per_frame_contrast else self.scale)

    def index_of_epoch(self, epoch: int) -> int:
        """The snapshot at `epoch`'s end (0: the initial weights); a `CnnStudioError` names the epochs there are."""
        for i, snap in enumerate(self.snapshots):
            if (snap.epoch_end and snap.epoch == epoch) or (epoch == 0 and snap.epoch == 1 and snap.batch == 0):
                return i
        epochs = sorted({0 if (s.epoch == 1 and s.batch == 0) else s.epoch for s in self.snapshots
                         if s.epoch_end or s.batch == 0})
        raise CnnStudioError(f"{self.run_dir.name} has no snapshot at epoch {epoch}; its history has epoch "
                             f"{_ranges(epochs)} (0: the initial weights)")


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 3, 5] -> "0–3, 5"."""
    parts: list[str] = []
    for v in values:
        if parts and v == int(parts[-1].split("–")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('–')[0]}–{v}"
        else:
            parts.append(str(v))
    return ", ".join(parts) or "none"


@dataclass(frozen=True, eq=False)
class MapHistory:
    """One stored layer's probe feature maps over every snapshot of one run."""

    run_dir: Path
    layer: str
    snapshots: tuple[Snapshot, ...]
    maps: tuple[np.ndarray, ...]  # float32 N(probes)×C×h×w per snapshot
    problems: tuple[str, ...] = ()

    @classmethod
    def load(cls, run: RunInfo | str | Path, layer: int) -> MapHistory:
        """Read the maps of the `layer`-th stored layer (0 or 1) from every snapshot that has them."""
        path, listing = _listing(run)
        with_layer = HistoryListing(tuple(s for s in listing.snapshots if len(s.map_layers) > layer), listing.problems)
        if not with_layer.snapshots:
            raise NoHistoryError(f"{path.name}'s history holds no feature maps of a layer {layer + 1}")
        kept, arrays, problems = _readable(with_layer, lambda s: read_maps(s, layer))
        if not kept:
            raise NoHistoryError(f"none of {path.name}'s feature-map snapshots can be read: {problems[0]}")
        return cls(path, kept[-1].map_layers[layer], tuple(kept), tuple(arrays), tuple(problems))

    def __len__(self) -> int:
        return len(self.snapshots)

    def scale(self, probe: int) -> float:
        """The largest |activation| of `probe` over every frame."""
        return max(max_abs(m[probe]) for m in self.maps)

    def frame(self, index: int, probe: int, *, per_frame_contrast: bool = False) -> np.ndarray:
        """Snapshot `index`'s maps of `probe`, tiled: a grey H×W picture in [0, 1]."""
        from cnnstudio.inspect.activations import tile_feature_maps

        maps = self.maps[index][probe]
        return tile_feature_maps(maps, scale=max_abs(maps) if per_frame_contrast else self.scale(probe))


def to_uint8(picture: np.ndarray, *, zoom: int = 1) -> np.ndarray:
    """A [0, 1] picture (H×W or H×W×3) as uint8 RGB, each pixel a `zoom`×`zoom` block (no blur)."""
    rgb = np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture
    rgb = (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.repeat(np.repeat(rgb, zoom, axis=0), zoom, axis=1) if zoom > 1 else rgb


def _zoom_for(side: int, target: int = 320) -> int:
    return max(1, min(16, target // max(side, 1)))


def _captioned(rgb: np.ndarray, caption: str) -> object:
    """The picture with a white strip below it holding `caption` (Pillow's default font)."""
    from PIL import Image, ImageDraw

    strip = 16
    image = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + strip), "white")
    image.paste(Image.fromarray(rgb), (0, 0))
    ImageDraw.Draw(image).text((3, rgb.shape[0] + 2), caption, fill=(40, 40, 40))
    return image


def kernel_png(history: KernelHistory, index: int, *, per_frame_contrast: bool = False) -> bytes:
    """One frame as a PNG (pixels enlarged to about 320 px, captioned)."""
    frame = history.frame(index, per_frame_contrast=per_frame_contrast)
    buffer = io.BytesIO()
    _captioned(to_uint8(frame, zoom=_zoom_for(max(frame.shape[:2]))), history.snapshots[index].label).save(
        buffer, format="PNG")
    return buffer.getvalue()


def gif_frames(count: int, limit: int = MAX_GIF_FRAMES) -> list[int]:
    """The snapshots a GIF of `count` shows: all of them up to `limit`, else `limit` evenly spaced ones."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def history_gif(history: KernelHistory, *, per_frame_contrast: bool = False, frame_ms: int = 400) -> bytes:
    """Every frame (at most MAX_GIF_FRAMES, evenly spaced: `gif_frames`) as one animated GIF,
    looping, on the global scale unless `per_frame_contrast`; the last frame is held a little
    longer. Frames are drawn one at a time as the encoder takes them, never all held as pictures."""
    picks = gif_frames(len(history))
    first = history.frame(picks[0])
    zoom = _zoom_for(max(first.shape[:2]))

    def frame(i: int) -> object:
        return _captioned(to_uint8(history.frame(i, per_frame_contrast=per_frame_contrast), zoom=zoom),
                          history.snapshots[i].label)

    durations = [frame_ms] * (len(picks) - 1) + [frame_ms * 4]
    buffer = io.BytesIO()
    frame(picks[0]).save(buffer, format="GIF", save_all=True, append_images=(frame(i) for i in picks[1:]),
                         duration=durations, loop=0, disposal=1, optimize=False)
    return buffer.getvalue()
