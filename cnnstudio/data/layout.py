"""How an image folder lays out its classes, decided once (torch-free).

Both the scan that trains on a folder and the setup panel that previews it ("12 classes")
ask `detect_layout`, so the two can never disagree about upper case, the validation
folder's name or hidden entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.errors import DatasetError

__all__ = ["ASSUMED_FOLDER_CHANNELS", "FolderLayout", "IMAGE_EXTENSIONS", "VAL_FOLDER_NAMES", "class_folders", "detect_layout", "is_hidden",
           "is_image_name"]

#: Names (any case) of the validation folder beside `train/`.
VAL_FOLDER_NAMES = ("val", "valid", "validation")
_IGNORED_NAMES = frozenset({"__MACOSX"})


#: The file names taken as images, by a folder's scan and by the app's open-file dialogs alike:
#: the suffixes of the formats `images.load_image` decodes (torchvision's ImageFolder list plus
#: GIF and ICO, which the classifier always opened and a folder's scan skipped).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".ico")


#: The channels of an image folder before its scan has looked: colour, the larger of the two, so
#: a memory check or a model built early never underestimates (the scan then says 1 or 3).
ASSUMED_FOLDER_CHANNELS = 3


def is_image_name(name: str) -> bool:
    """Whether a file name has one of `IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def is_hidden(name: str) -> bool:
    """Entries a scan never looks at: dot-files/folders and macOS archive debris."""
    return name.startswith(".") or name in _IGNORED_NAMES


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the visible sub-folders (ImageFolder's `find_classes`, minus hidden)."""
    try:
        return sorted(e.name for e in os.scandir(folder) if not is_hidden(e.name) and e.is_dir())
    except OSError as exc:
        raise DatasetError(f"cannot read the folder {folder} ({exc.strerror or exc})") from None


@dataclass(frozen=True)
class FolderLayout:
    """`kind` "classes" (one sub-folder per class) or "train/val" (both, with the same classes)."""

    kind: str
    train_dir: Path
    val_dir: Path | None
    classes: tuple[str, ...]


def detect_layout(root: str | os.PathLike[str]) -> FolderLayout:
    """The folder's layout: `train/` plus `val/` (or valid/validation, any case) when both hold
    classes, else one sub-folder per class. `DatasetError` for an unreadable folder or a
    validation folder with classes the training folder lacks."""
    root = Path(root)
    subfolders = class_folders(root)
    by_lower = {name.lower(): name for name in subfolders}
    val_name = next((by_lower[n] for n in VAL_FOLDER_NAMES if n in by_lower), None)
    if "train" in by_lower and val_name is not None:
        train_dir, val_dir = root / by_lower["train"], root / val_name
        classes = class_folders(train_dir)
        if classes:
            extra = sorted(set(class_folders(val_dir)) - set(classes))
            if extra:
                raise DatasetError(
                    f"{val_dir} has class folders that {train_dir} lacks ({', '.join(extra)}); "
                    "give both the same class sub-folders"
                )
            return FolderLayout("train/val", train_dir, val_dir, tuple(classes))
    return FolderLayout("classes", root, None, tuple(subfolders))
