"""The classic CNNs: a torch-free catalog of them, and a registry that builds them by name.

Importing this package (or `cnnstudio.models.catalog`) does not import torch; the names
that need torch (`build_model`, `check_input_size`, `resolve_options`) are loaded from
`registry` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.models.catalog import ArchInfo, OptionSpec, get_info, list_models, model_names

if TYPE_CHECKING:
    from cnnstudio.models.registry import build_model, check_input_size, resolve_options

__all__ = ["ArchInfo", "OptionSpec", "build_model", "check_input_size", "get_info", "list_models", "model_names",
           "resolve_options"]

_FROM_REGISTRY = {"build_model", "check_input_size", "resolve_options"}


def __getattr__(name: str) -> object:
    if name in _FROM_REGISTRY:
        from cnnstudio.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
