"""A picture drawn by hand, made ready for a trained network (the Classify tab's drawing pad).

For a grey network trained on light strokes on a dark ground (MNIST-like: `classify.dark_ground`)
the drawing is made the way MNIST's digits were (LeCun, Cortes & Burges): the ink turned
white on black, cropped to its bounding box, scaled so its longer side is 20 of 28 pixels
keeping its aspect, and centred in the 28×28 field by its centre of mass (for a dataset of
another size, the same proportions of its own side). Any other network gets the drawing as it
is (grey or colour: the run's own transform converts it). Either way the result is an ordinary
picture that then goes through exactly what a file goes through (`Predictor.predict_image`):
saved as a PNG and classified with `cnnstudio classify`, it gets the same top-5.

numpy and Pillow only, apart from the classification itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.data.spec import DatasetSpec

if TYPE_CHECKING:
    from cnnstudio.inspect.classify import Prediction, Predictor

__all__ = ["DrawnInput", "MNIST_BOX", "MNIST_SIDE", "classify_drawing", "mnist_like", "mnist_style",
           "prepare_drawing"]

MNIST_SIDE = 28  # the field a digit is centred in
MNIST_BOX = 20  # the box its longer side is scaled to
INK_LEVEL = 24  # 0–255: fainter pixels (anti-aliasing haze, paper noise) do not count as ink for the box


@dataclass(frozen=True, eq=False)
class DrawnInput:
    """A drawing made ready: `image` (uint8 H×W grey or H×W×3) is what the network is given before
    the run's own transform — the picture to show beside the pad and to save. `mnist_like` says it
    was centred MNIST's way; `empty` that no ink was found."""

    image: np.ndarray
    mnist_like: bool
    empty: bool

    @property
    def description(self) -> str:
        """What was done to the drawing, for the caption beside it."""
        if not self.mnist_like:
            return "the drawing as it is"
        side = self.image.shape[0]
        return f"white on black, {round(side * MNIST_BOX / MNIST_SIDE)} px box, centred by mass in {side}×{side}"


def mnist_like(spec: DatasetSpec) -> bool:
    """Whether a network trained on `spec` expects MNIST-made digits: grey, light strokes on dark."""
    from cnnstudio.inspect.classify import dark_ground

    return spec.channels == 1 and dark_ground(spec) is True


def _grey(pixels: np.ndarray) -> np.ndarray:
    """uint8 H×W, H×W×1, H×W×3 or H×W×4 → float H×W brightness 0–255 (601 luma, as Pillow's "L")."""
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return array.astype(np.float64)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.float64)
        return rgb @ np.array([0.299, 0.587, 0.114])
    raise ValueError(f"expected an H×W or H×W×3 image; got shape {array.shape}")


def _border_mean(grey: np.ndarray) -> float:
    return float(np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]]).mean())


def mnist_style(ink: np.ndarray, *, side: int = MNIST_SIDE, box: int | None = None) -> np.ndarray:
    """Bright ink on black (float or uint8 H×W, 0–255) → uint8 `side`×`side` the way MNIST was made:
    cropped to the ink's bounding box, longer side scaled to `box` (default 20/28 of `side`) keeping
    the aspect ratio (anti-aliased), centred by its centre of mass. No ink: an all-black field."""
    from PIL import Image

    box = box or max(1, round(side * MNIST_BOX / MNIST_SIDE))
    ink = np.clip(np.asarray(ink, dtype=np.float64), 0, 255)
    field = np.zeros((side, side), dtype=np.uint8)
    rows = np.flatnonzero((ink > INK_LEVEL).any(axis=1))
    cols = np.flatnonzero((ink > INK_LEVEL).any(axis=0))
    if rows.size == 0:
        return field
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(np.round(crop).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
                       dtype=np.float64)
    total = small.sum()
    if total <= 0:
        return field
    ys, xs = np.indices(small.shape)
    # The centre of mass goes to the field's centre (pixel centres: the field's is at side/2).
    cy, cx = (ys * small).sum() / total + 0.5, (xs * small).sum() / total + 0.5
    top, left = int(round(side / 2 - cy)), int(round(side / 2 - cx))
    # Paste with clipping: a lopsided stroke may push part of the box past the edge, as in MNIST.
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(side, top + small.shape[0]), min(side, left + small.shape[1])
    if y1 > y0 and x1 > x0:
        field[y0:y1, x0:x1] = np.round(small[y0 - top:y1 - top, x0 - left:x1 - left]).astype(np.uint8)
    return field


def prepare_drawing(pixels: np.ndarray, spec: DatasetSpec) -> DrawnInput:
    """The pad's pixels (uint8 H×W grey or H×W×3/4 colour, usually dark ink on light paper) as the
    picture a network trained on `spec` is given (see the module docstring)."""
    grey = _grey(pixels)
    if mnist_like(spec):
        ink = 255.0 - grey if _border_mean(grey) > 127 else grey  # light paper: invert to white on black
        image = mnist_style(ink, side=spec.native_size)
        return DrawnInput(image, True, not image.any())
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3:
        array = array[..., :3]
    empty = float(grey.max() - grey.min()) <= INK_LEVEL
    return DrawnInput(np.ascontiguousarray(array.astype(np.uint8)), False, empty)


def classify_drawing(predictor: Predictor, pixels: np.ndarray, *, top_k: int = 5) -> tuple[DrawnInput, Prediction]:
    """The drawing made ready (`prepare_drawing`) and classified as a file of it would be."""
    from PIL import Image

    drawn = prepare_drawing(pixels, predictor.spec)
    img: Any = Image.fromarray(drawn.image)
    return drawn, predictor.predict_image(img.convert("L" if drawn.image.ndim == 2 else "RGB"), name="drawing",
                                          top_k=top_k)
