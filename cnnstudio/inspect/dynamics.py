"""Why a network trains, or doesn't: a run's recorded dynamics read as a table, a diagnosis in
words, and the pictures (fastai's "colorful dimension", the gradient norms over time).

The recording is the fit's (`training/fit/dynamics.py`, `training/store/dynamics.py`); this
module only reads it (numpy, no torch). Each `Finding` has a kind, the layer(s), the moment
(a step), the evidence in numbers and a suggestion in plain words, from the source notes and
the papers: the sigmoid's flat ends and the depth make the gradient vanish (BatchNorm, (Leaky)
ReLU, Kaiming init, fewer layers); ReLUs die with too high a learning rate; Karpathy's
update-to-weight ratio of about 1e-3.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.errors import CnnStudioError
from cnnstudio.training.store.dynamics import FIGURES, DynamicsRecord, read_dynamics

__all__ = ["DIAGNOSIS_KINDS", "Finding", "LayerMoment", "diagnose", "dynamics_json", "format_table", "layer_table",
           "load_dynamics", "moment_samples", "render_png"]

DIAGNOSIS_KINDS = ("vanishing_gradients", "exploding_gradients", "non_finite", "saturation", "dead_units",
                   "update_ratio", "batchnorm_statistics")
# The thresholds, each stated once.
VANISHING_RATIO = 1e-3  # first layers' gradient norm ÷ last layers'
EXPLODING_RATIO = 1e3  # a gradient norm over the weights' norm
SATURATED_SHARE = 0.5  # most units of a sigmoid/tanh layer at a bound
DEAD_SHARE = 0.9  # channels of a ReLU layer zero for every input
UPDATE_LOW, UPDATE_HIGH = 1e-4, 1e-2  # Karpathy's band around 1e-3
BN_FAR = 10.0  # running variance this far (×, ÷) from the batch's


@dataclass(frozen=True)
class Finding:
    """One thing the recording shows about why the run trains as it does."""

    kind: str  # one of DIAGNOSIS_KINDS
    layer: str  # the layer it is about (the first, for a comparison of two)
    step: int  # the moment: a global step the evidence comes from
    epoch: int
    evidence: str  # in numbers
    suggestion: str  # in plain words
    severity: float = 1.0  # for ordering: how far past the threshold (log10)
    other_layer: str = ""  # the second layer of a comparison (vanishing gradients: the last layer)

    def text(self) -> str:
        return f"{self.kind.replace('_', ' ')}: {self.evidence} — {self.suggestion}"


@dataclass(frozen=True)
class LayerMoment:
    """One layer's figures at a moment (medians over the moment's samples)."""

    name: str
    kind: str
    grad_norm: float
    weight_norm: float
    update_ratio: float
    act_mean: float
    act_std: float
    saturated: float
    zero: float
    dead: float
    bn_var_ratio: float


def load_dynamics(run_dir: str | Path) -> DynamicsRecord:
    """The run's recording; CnnStudioError in words when it has none."""
    from cnnstudio.training.store.dynamics import DynamicsFileError

    try:
        record = read_dynamics(run_dir)
    except DynamicsFileError as exc:
        raise CnnStudioError(str(exc)) from None
    if record is None or len(record) == 0:
        raise CnnStudioError(f"{run_dir} has no training dynamics recorded — it was trained with --no-dynamics, "
                             "by an older cnnstudio, or stopped before its first step; train it (or resume it) to record them")
    return record


def moment_samples(record: DynamicsRecord, epoch: int | None = None) -> np.ndarray:
    """Indices of the samples that make up "the moment": an epoch's last samples (its second
    half, at most 20), or those of the last epoch recorded when `epoch` is None."""
    epochs = sorted(set(int(e) for e in record.epochs))
    if epoch is None:
        epoch = epochs[-1]
    if epoch not in epochs:
        raise CnnStudioError(f"no dynamics were recorded in epoch {epoch}; recorded epochs: "
                             f"{', '.join(map(str, epochs))}")
    chosen = np.flatnonzero(record.epochs == epoch)
    keep = max(1, min(20, (len(chosen) + 1) // 2))
    return chosen[-keep:]


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan


def layer_table(record: DynamicsRecord, epoch: int | None = None) -> list[LayerMoment]:
    """Every recorded layer's figures at the moment, in the network's order."""
    idx = moment_samples(record, epoch)
    rows = []
    for i, layer in enumerate(record.layers):
        values = {name: _median(record.figures[name][idx, i]) for name in FIGURES if name != "nonfinite"}
        rows.append(LayerMoment(name=layer.name, kind=layer.kind, **values))
    return rows


def _fmt(value: float, kind: str = "g") -> str:
    if not math.isfinite(value):
        return "–"
    if kind == "%":
        return f"{value * 100:.0f} %"
    return f"{value:.2g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def format_table(rows: list[LayerMoment]) -> str:
    """The per-layer table as text (the CLI's)."""
    header = ("Layer", "Kind", "‖grad‖", "‖w‖", "update", "act mean", "act std", "saturated", "zero", "dead")
    from cnnstudio.files import readable

    lines = [(readable(r.name), readable(r.kind), _fmt(r.grad_norm), _fmt(r.weight_norm), _fmt(r.update_ratio), _fmt(r.act_mean),
              _fmt(r.act_std), _fmt(r.saturated, "%"), _fmt(r.zero, "%"), _fmt(r.dead, "%")) for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])]
                         + [row[i].rjust(widths[i]) for i in range(2, len(row))]).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(r) for r in lines), rule,
                      "update: ‖Δw‖/‖w‖ of one optimizer step (≈1e-3 is healthy); saturated: a sigmoid/tanh within "
                      "2 % of a bound; zero/dead: a ReLU's zero outputs / channels zero for the whole batch"])


def diagnose(record: DynamicsRecord, epoch: int | None = None) -> list[Finding]:
    """What the recording says about why the run trains as it does, most severe first."""
    if len(record) == 0:
        return []
    idx = moment_samples(record, epoch)
    at_step = int(record.steps[idx[-1]])
    at_epoch = int(record.epochs[idx[-1]])
    names = [layer.name for layer in record.layers]
    findings: list[Finding] = []
    trunk = [i for i, layer in enumerate(record.layers) if not layer.in_head and layer.kind in ("conv", "linear")]

    # Non-finite values: the first layer (in the network's order) whose output held NaN/Inf at the
    # first sample that had any; when no output did, the first whose gradient did.
    nonfinite = record.figures["nonfinite"]
    for code, what in ((1, "produced NaN/Inf first"), (2, "got a NaN/Inf gradient first")):
        bad = np.argwhere(nonfinite == code)
        if not bad.size:
            continue
        sample = int(bad[:, 0].min())
        layer = int(bad[bad[:, 0] == sample][:, 1].min()) if code == 1 else int(bad[bad[:, 0] == sample][:, 1].max())
        findings.append(Finding(
            "non_finite", names[layer], int(record.steps[sample]), int(record.epochs[sample]),
            f"{names[layer]} {what}, at step {int(record.steps[sample])} (learning rate {record.lr[sample]:.3g})",
            "lower the learning rate (try a tenth), add BatchNorm, or use Kaiming init", severity=10.0))
        break

    grad = np.array([_median(record.figures["grad_norm"][idx, i]) for i in range(len(names))])
    weight = np.array([_median(record.figures["weight_norm"][idx, i]) for i in range(len(names))])
    if len(trunk) >= 2:
        first, last = trunk[0], trunk[-1]
        if math.isfinite(grad[first]) and math.isfinite(grad[last]) and grad[last] > 0:
            ratio = grad[first] / grad[last]
            if ratio < VANISHING_RATIO:
                findings.append(Finding(
                    "vanishing_gradients", names[first], at_step, at_epoch,
                    f"{names[first]}'s gradients are {ratio:.1e} of {names[last]}'s (‖grad‖ {grad[first]:.1e} vs "
                    f"{grad[last]:.1e}, median of epoch {at_epoch}'s last samples)",
                    "the first layers barely learn: add BatchNorm, use Leaky ReLU or ReLU instead of sigmoid/tanh, "
                    "Kaiming init, or fewer layers", severity=-math.log10(max(ratio, 1e-30)), other_layer=names[last]))
    for i in trunk:
        if math.isfinite(grad[i]) and weight[i] > 0 and grad[i] / weight[i] > EXPLODING_RATIO:
            findings.append(Finding(
                "exploding_gradients", names[i], at_step, at_epoch,
                f"{names[i]}'s gradient norm is {grad[i] / weight[i]:.1e}× its weights' norm",
                "lower the learning rate, add BatchNorm, or clip the gradients",
                severity=math.log10(grad[i] / weight[i])))
            break

    for i, layer in enumerate(record.layers):
        if layer.activation == "bounded":
            share = _median(record.figures["saturated"][idx, i])
            if share > SATURATED_SHARE:
                findings.append(Finding(
                    "saturation", layer.name, at_step, at_epoch,
                    f"{share * 100:.0f} % of {layer.name}'s outputs sit within 2 % of the activation's bounds",
                    "saturated units pass almost no gradient: add BatchNorm before the activation, use ReLU or "
                    "Leaky ReLU, or lower the learning rate", severity=share))
        if layer.activation == "rectifier":
            dead = _median(record.figures["dead"][idx, i])
            if dead > DEAD_SHARE:
                findings.append(Finding(
                    "dead_units", layer.name, at_step, at_epoch,
                    f"{dead * 100:.0f} % of {layer.name}'s channels output zero for every image of the batch",
                    "dead ReLUs never recover: lower the learning rate, use Leaky ReLU, or Kaiming init", severity=dead))
    for i in trunk:
        ratio = _median(record.figures["update_ratio"][idx, i])
        if not math.isfinite(ratio) or ratio <= 0:
            continue
        if ratio < UPDATE_LOW or ratio > UPDATE_HIGH:
            low = ratio < UPDATE_LOW
            findings.append(Finding(
                "update_ratio", names[i], at_step, at_epoch,
                f"each step changes {names[i]}'s weights by {ratio:.1e} of their norm (healthy: about 1e-3)",
                ("the learning rate is too low for this layer (or its gradient vanished): raise it, or see Find LR"
                 if low else "the learning rate is too high for this layer: lower it, or see Find LR"),
                severity=abs(math.log10(ratio) + 3) - 1))
    for i, layer in enumerate(record.layers):
        ratio = _median(record.figures["bn_var_ratio"][idx, i])
        if math.isfinite(ratio) and ratio > 0 and (ratio > BN_FAR or ratio < 1 / BN_FAR):
            findings.append(Finding(
                "batchnorm_statistics", layer.name, at_step, at_epoch,
                f"{layer.name}'s running variance is {ratio:.2g}× the batch's — validation (which uses the "
                "running statistics) sees differently scaled values than training",
                "train more epochs so the running statistics catch up (BatchNorm's momentum is 0.1 per step), or "
                "use a larger batch", severity=abs(math.log10(ratio))))
    return sorted(_merged(findings), key=lambda f: -f.severity)


def _merged(findings: list[Finding]) -> list[Finding]:
    """One finding per kind and suggestion: six layers whose update ratio is too low for one
    reason read as one line naming them, led by the worst, not as six lines."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.kind, finding.suggestion), []).append(finding)
    out = []
    for (kind, _suggestion), group in groups.items():
        if len(group) == 1 or kind in ("non_finite", "vanishing_gradients", "exploding_gradients"):
            out += group
            continue
        group = sorted(group, key=lambda f: -f.severity)
        worst = group[0]
        others = ", ".join(f.layer for f in group[1:])
        out.append(Finding(worst.kind, worst.layer, worst.step, worst.epoch,
                           f"{worst.evidence}; also {others}", worst.suggestion, worst.severity))
    return out


def dynamics_json(record: DynamicsRecord, findings: list[Finding]) -> dict[str, Any]:
    """The recording as `cnnstudio dynamics --json` writes it (non-finite values as null)."""

    def clean(values: np.ndarray) -> list[float | None]:
        return [float(v) if math.isfinite(v) else None for v in values.tolist()]

    return {
        "steps": record.steps.tolist(), "epochs": record.epochs.tolist(), "loss": clean(record.loss),
        "lr": clean(record.lr),
        "layers": [{"name": layer.name, "kind": layer.kind, "activation": layer.activation,
                    **{name: clean(record.figures[name][:, i]) for name in FIGURES}}
                   for i, layer in enumerate(record.layers)],
        "diagnosis": [asdict(f) for f in findings],
    }


# -- pictures ---------------------------------------------------------------------------------------


def _palette(values: np.ndarray) -> np.ndarray:
    """0..1 → RGB uint8 on a perceptually ordered ramp (dark blue → yellow, like viridis)."""
    from cnnstudio.inspect.palette import STOPS

    stops = np.array(STOPS, dtype=np.float32)
    v = np.clip(values, 0, 1) * (len(stops) - 1)
    low = np.floor(v).astype(int).clip(0, len(stops) - 2)
    frac = (v - low)[..., None]
    return (stops[low] * (1 - frac) + stops[low + 1] * frac).astype(np.uint8)


def render_png(record: DynamicsRecord, path: str | Path, *, layers: list[str] | None = None) -> None:
    """The colorful-dimension picture (per layer, its activation histogram over time, log
    intensity) above the layers' gradient norms over time (log scale), as one PNG."""
    from PIL import Image, ImageDraw

    from cnnstudio.inspect.pictures import save_png

    chosen = [i for i, layer in enumerate(record.layers) if layers is None or layer.name in layers]
    if not chosen:
        raise CnnStudioError("none of the named layers was recorded")
    samples = len(record)
    plot_w = max(640, min(samples * 6, 1200))
    cell_w = plot_w / max(samples, 1)
    strip_h, label_w, gap = 40, 170, 6
    width = label_w + plot_w + 20
    plot_h = 220
    height = len(chosen) * (strip_h + gap) + plot_h + 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = 10
    for i in chosen:
        hist = record.hist[:, i, :].astype(np.float32) / 255.0  # S × BINS, each row scaled to its peak
        strip = _palette(np.log1p(hist * 20) / np.log1p(20)).transpose(1, 0, 2)[::-1]  # BINS × S, high values up
        tile = Image.fromarray(strip, "RGB").resize((plot_w, strip_h), Image.NEAREST)
        image.paste(tile, (label_w, y))
        draw.text((6, y + strip_h // 2 - 6), record.layers[i].name[-26:], fill="black")
        y += strip_h + gap
    draw.text((label_w, y + 2), "activation histograms over training (each column one sampled step; bottom = low values)",
              fill="black")
    y += 20
    # Gradient norms, log10, one line per layer.
    grads = record.figures["grad_norm"][:, chosen]
    finite = grads[np.isfinite(grads) & (grads > 0)]
    draw.rectangle([label_w, y, label_w + plot_w, y + plot_h], outline="black")
    if finite.size:
        lo, hi = math.floor(np.log10(finite.min())), math.ceil(np.log10(finite.max()))
        hi = max(hi, lo + 1)
        for decade in range(lo, hi + 1):
            yy = y + plot_h - (decade - lo) / (hi - lo) * plot_h
            draw.line([label_w - 4, yy, label_w, yy], fill="black")
            draw.text((label_w - 50, yy - 6), f"1e{decade}", fill="black")
        colours = _palette(np.linspace(0, 0.9, len(chosen)))
        for k, i in enumerate(chosen):
            values = record.figures["grad_norm"][:, i]
            points = [(label_w + s * cell_w + cell_w / 2, y + plot_h - (math.log10(v) - lo) / (hi - lo) * plot_h)
                      for s, v in enumerate(values) if math.isfinite(v) and v > 0]
            if len(points) > 1:
                draw.line(points, fill=tuple(int(c) for c in colours[k]), width=2)
            if points:
                draw.text((points[-1][0] - 60, points[-1][1] - 12), record.layers[i].name[-14:],
                          fill=tuple(int(c) for c in colours[k]))
    draw.text((6, y + plot_h // 2 - 6), "gradient norm (log)", fill="black")
    draw.text((label_w, y + plot_h + 6), f"steps {int(record.steps[0])}…{int(record.steps[-1])}", fill="black")
    save_png(path, np.asarray(image))
