"""The rules of a training setting's value: one home for what `TrainConfig.validate()` accepts
and what a run's config.json is read back with (`store.schema`), so the two never disagree.

Torch-free, at the bottom of `training`. A failure is a `SchemaError` naming the field:
"lr must be a number > 0 and ≤ 1e+30; got -1".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from cnnstudio.errors import CnnStudioError

__all__ = ["MAX_FACTOR", "MAX_INPUT_SIZE", "MAX_TEXT", "finite", "SchemaError", "check_arch_options", "check_config_fields", "need_bool",
           "need_choice", "need_int", "need_number", "need_object", "need_str", "show"]

#: The largest input side a run may have: 8 × the papers' 224 (one 3×2048×2048 float image is 50 MB).
MAX_INPUT_SIZE = 2048
MAX_TEXT = 4096  # paths and names stored in a run
#: The largest learning rate, weight decay or loss weight: float32, which the optimizer computes
#: in, overflows near 3e38 ("value cannot be converted to type float without overflow").
MAX_FACTOR = 1e30


class SchemaError(CnnStudioError, ValueError):
    """A value that breaks its file's schema; `field` is its dotted name ("arch_options.dropout")."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}" if field else problem)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and finite(value)


def finite(value: int | float) -> bool:
    """math.isfinite, false for an int too large for a float (a 401-digit one raises OverflowError there)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def need_int(field: str, value: Any, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise SchemaError(field, f"must be a whole number from {low:,} to {high:,}; got {show(value)}")
    return value


def need_number(field: str, value: Any, low: float, high: float | None, *, low_open: bool = False,
                high_open: bool = False) -> float:
    ok = is_number(value)
    if ok:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = f"{'>' if low_open else '≥'} {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '≤'} {high:g}"
        raise SchemaError(field, f"must be a number {lo}{hi}; got {show(value)}")
    return float(value)


def need_str(field: str, value: Any, *, max_len: int = MAX_TEXT, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SchemaError(field, f"must be text; got {show(value)}")
    if len(value) > max_len or (not value and not allow_empty):
        raise SchemaError(field, f"must be text of 1 to {max_len:,} characters; got {len(value):,}")
    return value


def need_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SchemaError(field, f"must be true or false; got {show(value)}")
    return value


def need_choice(field: str, value: Any, choices: Any) -> str:
    names = [str(getattr(c, "value", c)) for c in choices]
    if not isinstance(value, str) or value not in names:
        raise SchemaError(field, f"must be one of {', '.join(names)}; got {show(value)}")
    return value


def need_object(field: str, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(field, f"is not {what} (a JSON object is needed; got {type(value).__name__})")
    return value


def _optional(check: Callable[..., Any]) -> Callable[..., Any]:
    def checked(field: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        return None if value is None else check(field, value, *args, **kwargs)

    return checked


# -- config.json ----------------------------------------------------------------------------------


def _device(field: str, value: Any) -> str:
    return need_str(field, value, max_len=32)


def _augment(field: str, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or len(value) > 16:
        raise SchemaError(field, f"must be a list of at most 16 augmentation names; got {show(value)}")
    return [need_str(f"{field}[{i}]", v, max_len=32) for i, v in enumerate(value)]


def _config_rules() -> dict[str, Callable[[str, Any], Any]]:
    from cnnstudio.choices import Finetune, Init, Optimizer, Schedule

    big = 1_000_000
    return {
        "arch": lambda f, v: need_str(f, v, max_len=64),
        "arch_options": lambda f, v: need_object(f, v, "a mapping of option names to values"),
        "dataset": need_str,
        "data_root": _optional(need_str),
        "input_size": _optional(lambda f, v: need_int(f, v, 1, MAX_INPUT_SIZE)),
        "epochs": lambda f, v: need_int(f, v, 1, big),
        "batch_size": lambda f, v: need_int(f, v, 1, 65_536),
        "optimizer": lambda f, v: need_choice(f, v, Optimizer.values()),
        "lr": lambda f, v: need_number(f, v, 0.0, MAX_FACTOR, low_open=True),
        "momentum": lambda f, v: need_number(f, v, 0.0, 1.0, high_open=True),
        "nesterov": need_bool,
        "weight_decay": lambda f, v: need_number(f, v, 0.0, MAX_FACTOR),
        "schedule": lambda f, v: need_choice(f, v, Schedule.values()),
        "step_size": lambda f, v: need_int(f, v, 1, big),
        "gamma": lambda f, v: need_number(f, v, 0.0, 1.0, low_open=True),
        "plateau_patience": lambda f, v: need_int(f, v, 0, big),
        "max_lr_drops": _optional(lambda f, v: need_int(f, v, 0, 1000)),
        "init": lambda f, v: need_choice(f, v, Init.values()),
        "init_from_run": _optional(need_str),
        "augment": _augment,
        "val_fraction": lambda f, v: need_number(f, v, 0.0, 1.0, low_open=True, high_open=True),
        "seed": lambda f, v: need_int(f, v, 0, 2**63 - 1),
        "device": _device,
        "amp": need_bool,
        "channels_last": need_bool,
        "compile": need_bool,
        "progress_interval": lambda f, v: need_number(f, v, 0.0, 3600.0),
        "aux_weight": lambda f, v: need_number(f, v, 0.0, MAX_FACTOR),
        "num_threads": _optional(lambda f, v: need_int(f, v, 1, 4096)),
        "pretrained": _optional(lambda f, v: need_str(f, v, max_len=64)),
        "pretrained_weights": _optional(need_str),
        "finetune": lambda f, v: need_choice(f, v, Finetune.values()),
        "weights_source": _optional(need_str),
        "sync_batch_norm": need_bool,
        "history": need_bool,
        "dynamics": need_bool,
    }


def check_arch_options(arch: str, options: Mapping[str, Any], field: str = "arch_options") -> None:
    """Every option is one `arch` has, of the kind the catalog says (torch-free)."""
    from cnnstudio.models.catalog import get_info

    info = get_info(arch)
    known = {spec.name: spec for spec in info.options}
    if len(options) > len(known):
        raise SchemaError(field, f"has {len(options)} entries; {arch} has {len(known)} options")
    for name, value in options.items():
        where = f"{field}.{name}"
        spec = known.get(name)
        if spec is None:
            valid = ", ".join(known) or "none"
            raise SchemaError(where, f"is not an option of {arch} (its options: {valid})")
        if spec.kind == "bool":
            need_bool(where, value)
        elif spec.kind == "choice":
            need_choice(where, value, spec.choices)
        else:
            low = spec.minimum if spec.minimum is not None else -1e9
            high = spec.maximum if spec.maximum is not None else 1e9
            need_number(where, value, low, high)


def check_config_fields(data: Mapping[str, Any]) -> None:
    """Types, ranges and sizes of a TrainConfig's dict, field by field; `SchemaError` on the first bad one."""
    rules = _config_rules()
    unknown = sorted(set(data) - set(rules))
    if unknown:
        raise SchemaError(show(unknown[0]).strip("'"), "is not a training setting this version knows")
    for name, rule in rules.items():
        if name in data:
            rule(name, data[name])
    if "arch" in data:
        from cnnstudio.models.catalog import get_info

        try:
            get_info(data["arch"])
        except CnnStudioError:
            raise SchemaError("arch", f"{show(data['arch'])} is not an architecture this version knows") from None
        check_arch_options(data["arch"], data.get("arch_options") or {})
