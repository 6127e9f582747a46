"""One list of image file names: a folder's scan takes what the app's open dialog offers."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cnnstudio.data.folders import scan_folder
from cnnstudio.data.layout import IMAGE_EXTENSIONS, is_image_name


def test_a_gif_in_a_class_folder_is_an_image(tmp_path: Path) -> None:
    # The classifier always opened GIFs; the scan used torchvision's list and skipped them.
    for name, colour in (("cat", (200, 30, 30)), ("dog", (30, 200, 30))):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (12, 12), colour).save(tmp_path / name / f"{i}.png")
        Image.new("RGB", (12, 12), colour).save(tmp_path / name / "moving.GIF")
    (tmp_path / "cat" / "notes.txt").write_text("not a picture", encoding="utf-8")
    scan = scan_folder(tmp_path, store_size=8)
    assert scan.report.used == 8
    assert [reason for _path, reason in scan.report.skipped] == ["not an image file"]


def test_names_are_matched_in_any_case() -> None:
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in IMAGE_EXTENSIONS)
    assert is_image_name("A.JPEG") and is_image_name("b.webp") and not is_image_name("c.txt")
