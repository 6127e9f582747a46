"""Build any catalog architecture by name, with its options checked first.

The catalog (`catalog.py`) says which architectures exist and which options each takes;
this module turns a name and options into an `nn.Module`, importing the family's module
only then.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import torch
from torch import nn

from cnnstudio.errors import CnnStudioError, InputTooSmallError
from cnnstudio.models.catalog import OptionSpec, get_info

__all__ = ["OptionValueError", "build_model", "check_input_size", "min_input_size", "resolve_options"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class OptionValueError(CnnStudioError, ValueError):
    """A build option or size with a value the architecture cannot use."""


def _coerce(arch: str, spec: OptionSpec, value: object) -> object:
    """`value` as the option's kind wants it; strings from a command line are accepted."""
    where = f"{arch} option {spec.name}"
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise OptionValueError(f"{where} must be true or false; got {value!r}")
    if spec.kind == "choice":
        if value in spec.choices:
            return value
        raise OptionValueError(f"{where} must be one of: {', '.join(spec.choices)}; got {value!r}")
    if spec.kind == "float":
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise OptionValueError(f"{where} must be a number; got {value!r}") from None
        if isinstance(value, bool) or number != number:
            raise OptionValueError(f"{where} must be a number; got {value!r}")
        low = spec.minimum if spec.minimum is not None else float("-inf")
        high = spec.maximum if spec.maximum is not None else float("inf")
        if not low <= number <= high:
            raise OptionValueError(f"{where} must be between {spec.minimum} and {spec.maximum}; got {number}")
        return number
    raise AssertionError(f"catalog option {spec.name} has unknown kind {spec.kind!r}")  # a catalog bug


def resolve_options(name: str, options: Mapping[str, object] | None = None) -> dict[str, object]:
    """Every option of architecture `name` with its value: defaults filled in, `options` checked.

    Unknown options raise `UnknownNameError` naming the valid ones; bad values raise
    `OptionValueError`. The result is what `build_model` passes to the builder, and what a
    run should store to rebuild the same model.
    """
    info = get_info(name)
    given = dict(options or {})
    for key in given:
        info.option(key)  # raises UnknownNameError listing the valid options
    return {spec.name: _coerce(name, spec, given.get(spec.name, spec.default)) for spec in info.options}


def _positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionValueError(f"{what} must be a positive whole number; got {value!r}")
    return value


def build_model(name: str, *, in_channels: int = 3, num_classes: int = 1000, **options: object) -> nn.Module:
    """A freshly initialised model of architecture `name` for `in_channels`-channel images.

    Options are those the catalog lists for the architecture (`get_info(name).options`);
    strings such as "true" or "0.5" are accepted for bool and float options.
    """
    info = get_info(name)
    values = resolve_options(name, options)
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    module_name, _, function_name = info.builder.partition(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    try:
        model = builder(in_channels=in_channels, num_classes=num_classes, **dict(info.builder_kwargs), **values)
    except CnnStudioError:
        raise
    except ValueError as exc:  # an option combination the family refuses, e.g. all_tricks + a switch
        raise OptionValueError(f"{name}: {exc}") from None
    model.arch_name = name
    return model


def min_input_size(name: str, **options: object) -> int:
    """The smallest square side `name` accepts with these options (the catalog's for the defaults)."""
    info = get_info(name)
    if not options:
        return info.min_size
    with torch.device("meta"):  # no weights are allocated: this is only to read the geometry
        return int(build_model(name, **options).min_size)


def check_input_size(name: str, size: int, **options: object) -> None:
    """Refuse, before any work, a square input of side `size` that `name`'s design cannot take.

    Without options the catalog's minimum (for the default options) applies; with options
    the minimum of that exact variant (GoogLeNet without auxiliary heads takes smaller inputs).
    """
    minimum = min_input_size(name, **options)
    if size < minimum:
        raise InputTooSmallError.for_size(name, minimum, size)
