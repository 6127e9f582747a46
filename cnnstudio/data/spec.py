"""What a model needs to know about its data: `DatasetSpec`, torch-free.

It crosses threads (trainer → window), is stored with every run (spec.json) and is read
by faces that must not wait for torch, so it lives apart from the loaders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnnstudio.errors import DatasetError

__all__ = ["DatasetSpec"]


@dataclass(frozen=True)
class DatasetSpec:
    """What a model needs to know about its data; stored with every run (JSON).

    `classes[i]` is the name of class index i, so a reordered folder can never silently
    relabel a trained model; `mean`/`std` are per channel on pixels in 0..1.
    `native_size` is the side of the squares training crops come from; `source_size` the
    typical shorter side of the files as stored, when that differs (an image folder of 8×8
    files stored at 256 px), None when they are the same (the built-in sets).
    """

    name: str
    channels: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    native_size: int
    source_size: int | None = None

    @property
    def stored_size(self) -> int:
        """The side of the training images as their files store them (what an input's size
        is compared with)."""
        return self.source_size or self.native_size

    @property
    def num_classes(self) -> int:
        """How many classes the dataset has."""
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists for the tuples)."""
        data = asdict(self)
        data["classes"], data["mean"], data["std"] = list(self.classes), list(self.mean), list(self.std)
        if self.source_size is None:  # older readers know no such key; omit it when it says nothing
            del data["source_size"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        """The spec saved by `to_dict`; `DatasetError` if it is malformed."""
        try:
            spec = cls(
                name=str(data["name"]),
                channels=int(data["channels"]),
                classes=tuple(str(c) for c in data["classes"]),
                mean=tuple(float(m) for m in data["mean"]),
                std=tuple(float(s) for s in data["std"]),
                native_size=int(data["native_size"]),
                source_size=None if data.get("source_size") is None else int(data["source_size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"the saved dataset description is malformed ({exc!r})") from None
        if spec.channels not in (1, 3) or (spec.source_size is not None and spec.source_size < 1) or len(spec.mean) != spec.channels or len(spec.std) != spec.channels:
            raise DatasetError(f"the saved dataset description is inconsistent: {spec.to_dict()}")
        return spec
