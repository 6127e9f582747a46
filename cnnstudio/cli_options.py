"""The command line's numbers: one parser for each kind, used by every verb's options.

A number typed on the command line is untrusted like a file's: `nan`, `inf`, `1e39` or a
70-bit seed must stop at the parser with argparse's one line ("argument --tv: must be a
finite number at least 0 and at most 10000; got 'nan'"), never reach torch or numpy as a traceback,
a MemoryError or a result that reads "p = nan". Settings that go into a TrainConfig keep
their ranges in the config's schema (`training/run_files.py`); these parsers only refuse
what no setting could mean.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["MAX_MAGNITUDE", "finite_number", "whole_number"]

#: No number an option takes is larger: beyond it float32 arithmetic (the models', the
#: optimizers') overflows, and no setting means anything there.
MAX_MAGNITUDE = 1e30


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "…")


def finite_number(low: float = -MAX_MAGNITUDE, high: float = MAX_MAGNITUDE, *,
                  low_open: bool = False) -> Callable[[str], float]:
    """An argparse `type=` for a real number in [low, high] (or (low, high] with `low_open`),
    refusing nan, inf and anything beyond MAX_MAGNITUDE."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and abs(value) <= MAX_MAGNITUDE and (value > low if low_open else value >= low) \
            and value <= high
        if not ok:
            if low == -MAX_MAGNITUDE and high == MAX_MAGNITUDE:
                what = f"of at most {MAX_MAGNITUDE:g} in size"
            else:
                what = f"{'above' if low_open else 'at least'} {low:g} and at most {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {what}; got {_show(text)}")
        return value

    parse.__name__ = "number"
    return parse


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type=` for a whole number in [low, high] (a 400-digit one is refused, not parsed)."""

    def parse(text: str) -> int:
        stripped = text.strip()
        value: int | None = None
        if len(stripped) <= 24:  # no allowed number is longer; int() of 5,000 digits is slow or refused
            try:
                value = int(stripped)
            except ValueError:
                value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,}; got {_show(text)}")
        return value

    parse.__name__ = "whole number"
    return parse
