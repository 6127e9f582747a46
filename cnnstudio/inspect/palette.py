"""The colours the network diagram and the dynamics pictures share, for the SVG/PNG writers and the
window alike (torch-free: the window imports it before torch has loaded)."""

from __future__ import annotations

__all__ = ["KIND_COLOURS", "STOPS", "ramp"]

#: A layer's colour by its kind in the layer graph.
KIND_COLOURS = {
    "conv": "#4e79a7", "pool": "#59a14f", "norm": "#b07aa1", "activation": "#f28e2b", "linear": "#e15759",
    "dropout": "#9c9c9c", "concat": "#76b7b2", "block": "#d9e6f2", "other": "#bab0ac", "input": "#444444",
}
STOPS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]  # viridis, five stops


def ramp(t: float) -> str:
    """0..1 → "#rrggbb" on a perceptually ordered ramp (viridis): the colour bar of every figure."""
    t = min(max(t, 0.0), 1.0) * (len(STOPS) - 1)
    i = min(int(t), len(STOPS) - 2)
    f = t - i
    r, g, b = (round(STOPS[i][k] * (1 - f) + STOPS[i + 1][k] * f) for k in range(3))
    return f"#{r:02x}{g:02x}{b:02x}"
