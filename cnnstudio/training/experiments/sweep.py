"""Sweeps: one base `TrainConfig` expanded into labelled variants, and the tricks study.

`sweep_configs(base, vary, all_on=False)` reads the command line's `--vary` texts:

- a list of **switches**, `batch_norm,leaky_relu,gap,dropout=0.5`: one run per switch on top
  of the baseline, plus the baseline itself (and with `all_on`, one run with every switch at
  once). A bare yes/no name is flipped from the base's value; a bare name that is a value of
  exactly one of the architecture's choice options (`leaky_relu` → `activation=leaky_relu`)
  sets that option; `NAME=VALUE` sets anything.
- a **grid** axis, `lr=0.1,0.01,0.001` (its first item is `NAME=VALUE`, the rest are more
  values of that name): several axes give their cartesian product, and a switch list
  combined with axes gives each switch variant at each grid point.

Names are the architecture's options (`models.catalog`) and `TrainConfig` fields; values are
parsed by the option's kind or the field's type, and every expanded config is validated, so
a bad value is refused with the config's own message before anything trains. Unknown names
raise `UnknownNameError` listing the valid ones.

`tricks_study(base)` is the notes' study of the `tricks` CNN (seed 004, "from LeNet to
GoogLeNet", part 3), as the notes ran it: their plain sigmoid net ("plain", which does not
converge), their baseline — the same net with BatchNorm after every conv, "the version we use
as the baseline" — then each trick on that baseline (Leaky ReLU, global average pooling,
dropout 0.5 at the notes' rate, two 3×3 convs for each 5×5, the multi-scale block), and the
notes' combined model (`all_tricks`): eight runs on the base's dataset and budget, compared
with the BatchNorm baseline. `width` (the tricks CNN's channel multiplier; default the base's,
else 1.0 = the notes' net) is the same in all eight, so a CPU can run the study at 0.25.
(`--vary batch_norm,leaky_relu,…` switches each trick on the
plain net instead; there, without BatchNorm, most of them do not train at all.)
budget. Torch-free to import (validation imports the model registry).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

from cnnstudio.errors import CnnStudioError, UnknownNameError, did_you_mean
from cnnstudio.training.config import TrainConfig, default_config

__all__ = ["BASELINE", "LabelledConfig", "STUDY_SWITCHES", "sweep_configs", "tricks_study", "study_base"]

#: The label of the run every other one is compared with (the table's Δ column).
BASELINE = "baseline"

#: The tricks the study adds to its BatchNorm baseline one at a time, in the notes' order
#: (`tricks` options; dropout at the notes' 0.5).
STUDY_SWITCHES = ("leaky_relu", "gap", "dropout=0.5", "small_kernels", "multiscale")

# Fields that are not settings one sweeps over: what is trained (`--arch`; its options by
# name), and what the trainer writes itself.
_NOT_VARIED = frozenset({"arch", "arch_options", "weights_source"})
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class LabelledConfig(NamedTuple):
    """One run of a sweep: its label for people ("baseline", "batch_norm", "lr=0.1") and its config."""

    label: str
    config: TrainConfig


def sweep_configs(base: TrainConfig, vary: Sequence[str], *, all_on: bool = False) -> list[LabelledConfig]:
    """The runs `vary` asks for (see the module docstring), each validated; the baseline first."""
    names = _Names(base)
    switch_tokens: list[str] = []
    axes: list[tuple[str, list[Any]]] = []
    for text in vary:
        tokens = [t.strip() for t in str(text).split(",") if t.strip()]
        if not tokens:
            raise CnnStudioError(f"--vary {text!r} names nothing to vary (e.g. --vary batch_norm,gap or --vary lr=0.1,0.01)")
        if "=" in tokens[0] and not any("=" in t for t in tokens[1:]):
            name, _, first = tokens[0].partition("=")
            name = names.check(name.strip())
            if any(name == axis for axis, _ in axes):
                raise CnnStudioError(f"{name} is varied twice; give all its values in one --vary {name}=A,B,C")
            axes.append((name, [names.parse(name, raw) for raw in [first, *tokens[1:]]]))
        else:
            switch_tokens.extend(tokens)
    if all_on and not switch_tokens:
        raise CnnStudioError("--all-on turns several switches on together: give them, e.g. --vary batch_norm,gap")
    switches = [(BASELINE, {})] + [names.switch(token) for token in switch_tokens] if switch_tokens else [("", {})]
    _refuse_repeats([changes for _, changes in switches[1:]], switch_tokens)
    if all_on:
        switches.append(("all on", {k: v for _, changes in switches[1:] for k, v in changes.items()}))
    grid = list(itertools.product(*[[(name, value) for value in values] for name, values in axes]))
    if not axes and not switch_tokens:
        raise CnnStudioError("a sweep needs something to vary: --vary batch_norm,gap or --vary lr=0.1,0.01")
    out = []
    for label, changes in switches:
        for point in grid:
            labels = [label] if label else []
            labels += [f"{name}={_show(value)}" for name, value in point]
            out.append(LabelledConfig(", ".join(labels), names.apply(base, {**changes, **dict(point)})))
    return out


def study_base(base: TrainConfig) -> TrainConfig:
    """The study's starting point: `base` itself for the tricks CNN; for another architecture,
    the tricks CNN's quick-start recipe on the base's dataset with its budget and device."""
    if base.arch == "tricks":  # the switches reset; the width (not a trick, the net's size) stays
        width = base.arch_options.get("width", 1.0)
        return base.replace(arch_options={} if width == 1.0 else {"width": width})
    keep = ("dataset", "data_root", "epochs", "val_fraction", "seed", "device", "augment", "num_threads")
    return default_config("tricks").replace(**{name: getattr(base, name) for name in keep})


def tricks_study(base: TrainConfig, *, width: float | None = None) -> list[LabelledConfig]:
    """The notes' eight runs: plain, the BatchNorm baseline, each of `STUDY_SWITCHES` on it, all tricks.

    `width` multiplies the tricks CNN's channels in every run (None: the base's own, else 1.0).
    """
    start = study_base(base)
    if width is not None:
        start = start.replace(arch_options={} if float(width) == 1.0 else {"width": float(width)})
    sized = dict(start.arch_options)  # {} or {"width": w}
    on_baseline = sweep_configs(start.replace(arch_options={"batch_norm": True, **sized}), [",".join(STUDY_SWITCHES)])
    return [LabelledConfig("plain", start.validate()), *on_baseline,
            LabelledConfig("all_tricks", start.replace(arch_options={"all_tricks": True, **sized}).validate())]


# -- names and values -----------------------------------------------------------------------------


class _Names:
    """What a sweep of `base` may vary: its architecture's options and the training settings."""

    def __init__(self, base: TrainConfig) -> None:
        from cnnstudio.models.catalog import get_info

        self.base = base
        self.options = {spec.name: spec for spec in get_info(base.arch).options}
        self.fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name not in _NOT_VARIED}

    def check(self, name: str) -> str:
        if name in self.options or name in self.fields:
            return name
        valid = [*self.options, *self.fields]
        options = ", ".join(self.options) or "none"
        other = self._other_architectures_option(name)
        if other is not None and other[0] not in self.options:  # batchnorm on LeNet: another net's option
            option, archs = other
            raise UnknownNameError(f"{self.base.arch} has no {option} option (it is an option of {', '.join(archs)}); "
                                   f"{self.base.arch} options: {options}")
        hint = f" (did you mean {other[0]}?)" if other is not None else did_you_mean(name, valid)
        raise UnknownNameError(f"unknown setting {name!r} to vary{hint}; {self.base.arch} options: {options}; "
                               f"training settings: {', '.join(self.fields)}")

    @staticmethod
    def _other_architectures_option(name: str) -> tuple[str, list[str]] | None:
        """(the option, the architectures that have it) when `name` is one, spelt loosely
        ("batchnorm" for batch_norm), of architectures other than this one."""
        from cnnstudio.models.catalog import list_models

        key = name.replace("_", "").replace("-", "").lower()
        owners: dict[str, list[str]] = {}
        for info in list_models():
            for spec in info.options:
                owners.setdefault(spec.name, []).append(info.name)
        for option, archs in owners.items():
            if option.replace("_", "") == key:
                return option, archs
        return None

    def current(self, name: str) -> Any:
        if name in self.options:
            return self.base.arch_options.get(name, self.options[name].default)
        return getattr(self.base, name)

    def parse(self, name: str, raw: str) -> Any:
        """`raw` as the option's kind or the field's type; left as text when it does not parse,
        so that the config's validation names the problem in its own words."""
        kind = self.options[name].kind if name in self.options else str(self.fields[name].type)
        text = raw.strip()
        low = text.lower()
        if "None" in kind and low == "none":
            return None
        try:
            if kind == "bool":
                return True if low in _TRUE else False if low in _FALSE else text
            if kind.startswith("int"):
                return int(text)
            if kind.startswith("float"):
                return float(text)
            if kind.startswith("tuple"):  # augment: crop+flip, or none
                return () if low in ("none", "") else tuple(part for part in text.split("+") if part)
        except ValueError:
            return text
        return text

    def switch(self, token: str) -> tuple[str, dict[str, Any]]:
        """One switch of a list: (label, changes)."""
        if "=" in token:
            name, _, raw = token.partition("=")
            name = self.check(name.strip())
            value = self.parse(name, raw)
            return f"{name}={_show(value)}", {name: value}
        owners = [spec.name for spec in self.options.values() if spec.kind == "choice" and token in spec.choices]
        if token not in self.options and token not in self.fields and len(owners) == 1:
            return token, {owners[0]: token}  # leaky_relu: the activation's value
        name = self.check(token)
        kind = self.options[name].kind if name in self.options else str(self.fields[name].type)
        if kind != "bool":
            example = {"dropout": "0.5"}.get(name, "VALUE")
            raise CnnStudioError(f"{name} is not a yes/no switch: give the value to switch to, e.g. {name}={example}")
        value = not bool(self.current(name))
        return (name if value else f"{name}=off"), {name: value}

    def apply(self, base: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
        options = {k: v for k, v in changes.items() if k in self.options}
        fields = {k: v for k, v in changes.items() if k not in self.options}
        config = base.replace(**fields)
        if options:
            config = config.replace(arch_options={**base.arch_options, **options})
        return config.validate()


def _refuse_repeats(changes: list[dict[str, Any]], tokens: list[str]) -> None:
    seen: dict[str, str] = {}
    for token, change in zip(tokens, changes):
        for name in change:
            if name in seen:
                raise CnnStudioError(f"{name} is switched twice ({seen[name]} and {token}); a switch list "
                                     f"names each setting once — use --vary {name}=A,B for several values")
            seen[name] = token


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return "+".join(value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
