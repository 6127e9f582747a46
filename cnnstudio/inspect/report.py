"""Evaluations as text: the command line's tables (rendering kept apart from the records)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cnnstudio.files import readable

if TYPE_CHECKING:
    from cnnstudio.inspect.evaluate import ComparisonRow, Evaluation

__all__ = ["DASH", "format_comparison", "format_evaluation", "percent"]

DASH = "–"  # a 0/0 fraction: no samples (recall) or no predictions (precision) of that class


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as "98.2 %"; None (0/0) as "–"."""
    return DASH if value is None else f"{value * 100:.{digits}f} %"


def _table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right)]
        out.append("  ".join(cells).rstrip())
    return out


def format_evaluation(ev: Evaluation, *, confusions: int = 10) -> str:
    """Top-1/top-5, the per-class table and the largest off-diagonal confusions."""
    from cnnstudio.choices import TestTime

    # Run, folder and class names come from the file system: escaped (files.readable).
    who = readable(", ".join(ev.models)) if len(ev.models) <= 3 else f"{len(ev.models)} runs"
    where = readable(ev.data.description) if ev.data is not None else f"{ev.samples:,} images"
    lines = [f"{who} on {where}", f"test-time: {TestTime(ev.tta).title}",
             f"top-1 {percent(ev.top1)}   top-5 {percent(ev.top5)}   ({ev.samples:,} images, {ev.seconds:.1f} s)", ""]
    rows = [("class", "images", "predicted", "precision", "recall", "F1")]
    for m in ev.class_metrics():
        rows.append((readable(m.name), f"{m.support:,}", f"{m.predicted:,}", percent(m.precision), percent(m.recall),
                     percent(m.f1)))
    lines += _table(rows, (False, True, True, True, True, True))
    top = ev.top_confusions(confusions)
    lines.append("")
    if not top:
        lines.append("no confusions: every image was classified correctly")
    else:
        lines.append("largest confusions (true → predicted, count, share of the true class)")
        width = max(len(readable(f"{c.true_name} → {c.pred_name}")) for c in top)
        count_width = max(len(str(c.count)) for c in top)
        for c in top:
            pair = readable(f"{c.true_name} → {c.pred_name}")
            lines.append(f"  {pair.ljust(width)}  {str(c.count).rjust(count_width)}  ({percent(c.fraction)})")
    return "\n".join(lines)


def format_comparison(rows: Sequence[ComparisonRow]) -> str:
    """One line per model and test-time setting, like the VGG paper's Tables 3–5 (errors, then accuracies)."""
    from cnnstudio.choices import TestTime

    table = [("model", "test-time", "top-1 err", "top-5 err", "top-1", "top-5")]
    for r in rows:
        top5_err = None if r.top5 is None else 1 - r.top5
        table.append((readable(r.model), TestTime(r.tta).title, percent(1 - r.top1), percent(top5_err),
                      percent(r.top1), percent(r.top5)))
    return "\n".join(_table(table, (False, False, True, True, True, True)))
