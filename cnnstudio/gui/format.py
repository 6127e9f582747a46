"""Numbers formatted for people: ``138.4 M``, ``97.3 %``, ``1:05``, ``1,234 img/s``."""

from __future__ import annotations

import math

__all__ = [
    "format_compact",
    "format_count",
    "format_duration",
    "format_lr",
    "format_percent",
    "format_rate",
]


def format_compact(value: float, *, digits: int = 1) -> str:
    """A large quantity with a unit prefix: ``138357544 -> "138.4 M"``, ``950 -> "950"``.

    The space is a no-break one: "58.3 M parameters" never parts as "58.3" / "M parameters".
    """
    if value is None or not math.isfinite(value):
        return "–"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}f}\u00a0{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def format_count(value: int) -> str:
    """An exact count with thousands separators: ``138357544 -> "138,357,544"``."""
    return f"{int(value):,}"


def format_percent(fraction: float | None, *, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage: ``0.973 -> "97.3 %"``; ``None`` -> ``"–"``."""
    if fraction is None or not math.isfinite(fraction):
        return "–"
    return f"{100.0 * fraction:.{digits}f} %"


def format_duration(seconds: float | None) -> str:
    """A duration as a clock: ``65 -> "1:05"``, ``3725 -> "1:02:05"``; unknown -> ``"–"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(images_per_second: float | None) -> str:
    """A throughput: ``1234.5 -> "1,234 img/s"``, ``215000 -> "215.0 k img/s"``."""
    if images_per_second is None or not math.isfinite(images_per_second):
        return "–"
    if images_per_second >= 100_000:
        return f"{format_compact(images_per_second)} img/s"
    return f"{images_per_second:,.0f} img/s"


def format_lr(value: float | None) -> str:
    """A learning rate, short and exact enough: ``0.01 -> "0.01"``, ``1e-4 -> "1e-04"``."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3g}" if value >= 1e-3 else f"{value:.0e}"
