"""Contact sheets: images as tiles with a caption under each (Pillow), for the CLI's PNGs and the window."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["caption_grid"]


def _tile(image: np.ndarray, side: int) -> Any:
    """uint8 C×H×W or H×W(×C) → a `side`-pixel RGB Pillow tile (pixels kept sharp when enlarged 2× or more)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    img = Image.fromarray(np.ascontiguousarray(arr)).convert("RGB")
    resample = Image.Resampling.NEAREST if max(img.size) * 2 <= side else Image.Resampling.BILINEAR
    return img.resize((side, side), resample)


def caption_grid(images: Sequence[np.ndarray], captions: Sequence[str], *, tile: int = 112, columns: int = 9,
                 outline: int | None = None) -> np.ndarray:
    """Images as one picture, a caption (lines split on "\\n") under each tile: uint8 H×W×3.

    `outline` is the index of a tile to stand out with a red frame (the query of a neighbour grid).
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    tiles = [(_tile(img, tile), cap) for img, cap in zip(images, captions)]
    line = 14
    lines = max(len(cap.split("\n")) for _t, cap in tiles)
    cell_h = tile + 6 + line * lines
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    gap = 8
    sheet = Image.new("RGB", (cols * (tile + gap) + gap, rows * (cell_h + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (img, caption) in enumerate(tiles):
        r, c = divmod(i, cols)
        x, y = gap + c * (tile + gap), gap + r * (cell_h + gap)
        sheet.paste(img, (x, y))
        if i == outline:
            draw.rectangle((x - 3, y - 3, x + tile + 2, y + tile + 2), outline=(220, 40, 40), width=3)
        for j, text in enumerate(caption.split("\n")):
            draw.text((x, y + tile + 4 + j * line), text, fill="black", font=font)
    return np.asarray(sheet)


def save_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write a uint8 H×W×3 picture as PNG atomically (a temp file, then a rename); a name that
    does not end in .png is refused in one sentence."""
    import io

    from PIL import Image

    from cnnstudio.errors import CnnStudioError
    from cnnstudio.files import atomic_write

    if not str(path).lower().endswith(".png"):
        raise CnnStudioError(f"{path}: the picture is written as PNG; give a file name ending in .png")
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    data = buffer.getvalue()
    atomic_write(path, lambda handle: handle.write(data), size_estimate=len(data))
