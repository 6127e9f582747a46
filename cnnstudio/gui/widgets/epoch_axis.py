"""An epoch axis ticked at whole epochs once two or more are in view (never "1.5", "2.5")."""

from __future__ import annotations

import math

import pyqtgraph as pg

__all__ = ["EpochAxis"]


class EpochAxis(pg.AxisItem):
    """An epoch axis ticked at whole epochs once two or more are in view (never "1.5", "2.5")."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803 - pyqtgraph override
        levels = super().tickValues(minVal, maxVal, size)
        low, high = sorted((minVal, maxVal))
        if high - low < 2:
            return levels  # inside the first epochs a fraction says where in the epoch
        whole = [(spacing, [v for v in values if float(v).is_integer()]) for spacing, values in levels
                 if spacing >= 1 or any(float(v).is_integer() for v in values)]
        whole = [(max(spacing, 1.0), values) for spacing, values in whole if values]
        if not whole:
            whole = [(1.0, [float(v) for v in range(math.ceil(low), math.floor(high) + 1)])]
        return whole
