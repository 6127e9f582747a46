"""Short names for runs: the variant trained (`vgg16-bn`) and a folder name that always fits.

A run folder is named `2026-11-23_14-05-33_vgg16-bn_mnist-sample`: when, which variant of
which architecture, on what data. Names are ASCII and short — the dataset part is cut to
`MAX_DATASET_PART` characters (a 240-character folder name must not push the run folder past
the 255 bytes most file systems allow) — so the same name works on every file system.
Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MAX_DATASET_PART", "slug", "variant_name", "run_folder_base"]

MAX_DATASET_PART = 40
MAX_VARIANT_PART = 48

# How an option that differs from its default reads in a name; values not listed read as
# "<short>" for a switched-on bool, "no<short>" for a switched-off one, "<short><value>" otherwise.
_SHORT = {
    "batch_norm": "bn",
    "lrn": "lrn",
    "aux_logits": "aux",
    "dropout": "do",
    "gap": "gap",
    "small_kernels": "3x3",
    "multiscale": "ms",
    "all_tricks": "all",
    "activation": "",
    "pool": "",
}


def slug(text: str, *, limit: int = MAX_DATASET_PART) -> str:
    """A folder-name-safe, ASCII, at most `limit` characters version of a name (a dataset may be a path)."""
    name = Path(text.rstrip("/\\")).name or text
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned[:limit].rstrip("-.") or "data"


def _tag(name: str, value: Any, default: Any) -> str:
    short = _SHORT.get(name, re.sub(r"[^a-z0-9]", "", name.lower())[:6])
    if isinstance(value, bool):
        return short if value else f"no{short}"
    if isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    if name == "pool":
        return f"{text}pool"
    return f"{short}{text}"


def variant_name(arch: str, options: Mapping[str, Any] | None = None) -> str:
    """The architecture's name plus a tag for each option that differs from its default:
    `vgg16-bn`, `googlenet-noaux`, `lenet5-relu-maxpool`, `alexnet-do0.3`."""
    from cnnstudio.models.catalog import get_info

    try:
        specs = get_info(arch).options
    except Exception:  # noqa: BLE001 - a name the catalog lacks is named as it is
        return slug(arch, limit=MAX_VARIANT_PART)
    tags = []
    for spec in specs:
        if options is None or spec.name not in options:
            continue
        value = options[spec.name]
        if value == spec.default and type(value) is type(spec.default):
            continue
        if isinstance(spec.default, float) and isinstance(value, (int, float)) and float(value) == spec.default:
            continue
        tags.append(_tag(spec.name, value, spec.default))
    return slug("-".join([arch, *tags]), limit=MAX_VARIANT_PART)


def run_folder_base(arch: str, options: Mapping[str, Any] | None, dataset: str, when: str) -> str:
    """`<when>_<variant>_<dataset>`, at most about 110 ASCII characters."""
    return f"{when}_{variant_name(arch, options)}_{slug(dataset)}"
