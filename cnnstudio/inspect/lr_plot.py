"""The LR range test's curve as a picture (Pillow): loss against a log-scaled LR, the suggestion marked.

`lr_picture(result)` returns a uint8 H×W×3 array for `pictures.save_png` (`cnnstudio lr-find -o lr.png`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["lr_picture"]

_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 20, 34, 46


def lr_picture(result: Any, *, width: int = 720, height: int = 440, title: str = "") -> np.ndarray:
    """`result` (an `LRFinderResult`) drawn: the raw losses in grey, the smoothed curve in blue, the
    suggested LR as a red line with its value, min/10 as a dashed green one; x is log10(LR)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    x0, x1, y0, y1 = _LEFT, width - _RIGHT, _TOP, height - _BOTTOM
    lrs = [lr for lr in result.lrs] or [result.start_lr, result.end_lr]
    lo, hi = math.log10(min(lrs[0], result.start_lr)), math.log10(max(lrs[-1], lrs[0] * 10))
    finite = [v for v in result.losses if math.isfinite(v)]
    raw = [v for v in result.raw_losses if math.isfinite(v)]
    if finite:
        # The raw losses above 4× the smoothed best would squash the curve: they are cut at the top.
        bottom = min(finite + raw)
        top = max(max(finite), min(max(raw, default=bottom), 4 * min(finite)))
    else:
        bottom, top = 0.0, 1.0
    if top - bottom < 1e-9:
        top, bottom = top + 0.5, bottom - 0.5
    bottom, top = bottom - 0.03 * (top - bottom), top + 0.03 * (top - bottom)

    def px(lr: float) -> float:
        return x0 + (math.log10(lr) - lo) / (hi - lo) * (x1 - x0)

    def py(loss: float) -> float:
        return y1 - (min(max(loss, bottom), top) - bottom) / (top - bottom) * (y1 - y0)

    # Axes, decade ticks on x, five ticks on y.
    draw.rectangle((x0, y0, x1, y1), outline=(90, 90, 90))
    for decade in range(math.ceil(lo), math.floor(hi) + 1):
        x = px(10.0**decade)
        draw.line((x, y0, x, y1), fill=(232, 232, 232))
        draw.line((x, y1, x, y1 + 4), fill=(90, 90, 90))
        draw.text((x - 12, y1 + 7), f"1e{decade}", fill="black", font=font)
    for i in range(6):
        value = bottom + (top - bottom) * i / 5
        y = py(value)
        draw.line((x0 - 4, y, x0, y), fill=(90, 90, 90))
        draw.text((4, y - 6), f"{value:.3g}", fill="black", font=font)
    draw.text(((x0 + x1) // 2 - 70, height - 18), "learning rate (log scale)", fill="black", font=font)
    draw.text((x0, 8), title or "LR range test: loss (smoothed in blue, raw in grey)", fill="black", font=font)

    def polyline(values: tuple[float, ...], colour: tuple[int, int, int], line: int) -> None:
        points = [(px(lr), py(v)) for lr, v in zip(result.lrs, values) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=line)

    polyline(result.raw_losses, (190, 190, 190), 1)
    polyline(result.losses, (31, 119, 180), 2)
    if result.min_lr_div10 is not None and lo <= math.log10(result.min_lr_div10) <= hi:
        x = px(result.min_lr_div10)
        for y in range(y0, y1, 8):
            draw.line((x, y, x, min(y + 4, y1)), fill=(44, 160, 44))
        draw.text((x + 4, y0 + 18), f"min/10 {result.min_lr_div10:.1e}", fill=(44, 120, 44), font=font)
    if result.suggested_lr is not None:
        x = px(result.suggested_lr)
        draw.line((x, y0, x, y1), fill=(214, 39, 40), width=1)
        index = min(range(len(result.lrs)), key=lambda i: abs(result.lrs[i] - result.suggested_lr))
        y = py(result.losses[index])
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=(214, 39, 40), width=2)
        draw.text((x + 4, y0 + 4), f"suggested {result.suggested_lr:.1e}", fill=(214, 39, 40), font=font)
    return np.asarray(image)
