"""The open-image dialogs offer exactly the file names a folder's scan takes."""

from __future__ import annotations

import re

from cnnstudio.data.layout import IMAGE_EXTENSIONS
from cnnstudio.gui.text import IMAGE_FILTER


def test_the_dialog_filter_is_built_from_the_one_list() -> None:
    offered = re.match(r"Images \(([^)]*)\);;All files \(\*\)$", IMAGE_FILTER)
    assert offered is not None
    assert tuple(pattern.removeprefix("*") for pattern in offered.group(1).split()) == IMAGE_EXTENSIONS
