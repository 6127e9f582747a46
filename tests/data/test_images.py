"""images.py: every bad file is refused with a one-line reason; every odd-but-valid
image is decoded into "L"/"RGB" correctly (issue 5, "Images")."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from cnnstudio.data.images import image_to_tensor, load_image, load_image_checked
from cnnstudio.errors import ImageError


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims `width`×`height` pixels (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def _rgb(size: tuple[int, int] = (16, 12), colour: tuple[int, int, int] = (200, 30, 60)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _zero_byte(tmp: Path) -> Path:
    (tmp / "empty.jpg").write_bytes(b"")
    return tmp / "empty.jpg"


def _html_as_jpg(tmp: Path) -> Path:
    (tmp / "page.jpg").write_text("<!DOCTYPE html><html><body>Not an image</body></html>")
    return tmp / "page.jpg"


def _text_as_png(tmp: Path) -> Path:
    (tmp / "notes.png").write_text("just some notes\n")
    return tmp / "notes.png"


def _truncated_jpeg(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp / "full.jpg", quality=90)
    data = (tmp / "full.jpg").read_bytes()
    (tmp / "cut.jpg").write_bytes(data[: len(data) // 2])
    return tmp / "cut.jpg"


def _truncated_png(tmp: Path) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp / "full.png")
    data = (tmp / "full.png").read_bytes()
    (tmp / "cut.png").write_bytes(data[: len(data) // 2])
    return tmp / "cut.png"


def _bomb_error(tmp: Path) -> Path:
    return write_png_header_claiming(tmp / "bomb.png", 20_000, 20_000)  # > 2 × MAX_IMAGE_PIXELS


def _bomb_warning(tmp: Path) -> Path:
    return write_png_header_claiming(tmp / "big.png", 10_000, 10_000)  # between MAX and 2 × MAX


def _eps(tmp: Path) -> Path:
    _rgb().save(tmp / "drawing.eps", "EPS")
    return tmp / "drawing.eps"


def _folder(tmp: Path) -> Path:
    (tmp / "a_folder.jpg").mkdir()
    return tmp / "a_folder.jpg"


def _dangling(tmp: Path) -> Path:
    (tmp / "link.png").symlink_to(tmp / "gone.png")
    return tmp / "link.png"


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere.png"


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero-byte": (_zero_byte, "empty file"),
    "html-renamed-jpg": (_html_as_jpg, "HTML"),
    "text-renamed-png": (_text_as_png, "text file"),
    "truncated-jpeg": (_truncated_jpeg, "truncated"),
    "truncated-png": (_truncated_png, "truncated"),
    "bomb-over-twice-limit": (_bomb_error, "decompression bomb"),
    "bomb-over-limit": (_bomb_warning, "decompression bomb"),
    "eps": (_eps, "EPS"),
    "folder": (_folder, "folder"),
    "dangling-link": (_dangling, "dangling link"),
    "missing": (_missing, "no such file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_with_a_one_line_reason(tmp_path: Path, case: str) -> None:
    build, expected = BAD_FILES[case]
    path = build(tmp_path)
    filters_before = list(warnings.filters)
    with pytest.raises(ImageError) as info:
        load_image(path)
    err = info.value
    assert expected in err.reason
    assert err.path == str(path)
    assert "\n" not in str(err) and str(path) in str(err)
    # Nothing global was changed to get there.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    assert warnings.filters == filters_before


@pytest.mark.parametrize("url", ["http://example.com/cat.jpg", "https://example.com/cat.jpg", "ftp://host/x.png"])
def test_remote_urls_are_refused(url: str) -> None:
    with pytest.raises(ImageError, match="only local files can be classified"):
        load_image(url)


def test_file_url_with_non_ascii_path_is_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "ñandú 图像"
    folder.mkdir()
    _rgb().save(folder / "gato ü.png")
    url = (folder / "gato ü.png").as_uri()  # percent-encoded, as a browser drop gives
    assert load_image(url).size == (16, 12)


def test_sixteen_bit_grey_png_is_rescaled_not_whitened(tmp_path: Path) -> None:
    values = np.full((20, 30), 30_000, dtype=np.uint16)
    values[:, :10] = 0
    Image.fromarray(values).save(tmp_path / "deep.png")
    img = load_image(tmp_path / "deep.png")
    arr = np.asarray(img)
    assert img.mode == "L"
    assert arr[:, :10].max() == 0
    assert abs(int(arr[0, 20]) - round(30_000 / 257)) <= 1  # ~117, not 255


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg", quality=95)  # pure cyan
    img = load_image(tmp_path / "cyan.jpg")
    r, g, b = img.getpixel((4, 4))
    assert img.mode == "RGB" and r < 40 and g > 215 and b > 215


def test_palette_with_transparency_goes_on_white(tmp_path: Path) -> None:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, index 1 blue
    img.putpixel((0, 0), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "pal.png", transparency=0)
    out = load_image(tmp_path / "pal.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (0, 0, 255)
    assert out.getpixel((2, 1)) == (255, 255, 255)  # transparent red shows the white page


def test_rgba_and_grey_alpha_composite_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    rgba.save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == (255, 0, 0)
    la = Image.new("LA", (2, 1), (0, 0))
    la.putpixel((1, 0), (0, 255))
    la.save(tmp_path / "la.png")
    out = load_image(tmp_path / "la.png")
    assert out.mode == "L" and out.getpixel((0, 0)) == 255 and out.getpixel((1, 0)) == 0


def test_one_bit_image_becomes_grey(tmp_path: Path) -> None:
    img = Image.new("1", (8, 8), 0)
    img.putpixel((3, 3), 1)
    img.save(tmp_path / "bits.bmp")
    out = load_image(tmp_path / "bits.bmp")
    assert out.mode == "L" and out.getpixel((3, 3)) == 255 and out.getpixel((0, 0)) == 0


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    _rgb((40, 20)).save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").size == (20, 40)


def test_animated_gif_uses_first_frame_and_says_so(tmp_path: Path) -> None:
    frames = [_rgb((10, 10), (255, 0, 0)), _rgb((10, 10), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    img, note = load_image_checked(tmp_path / "anim.gif")
    assert note is not None and "first frame" in note
    r, g, b = img.convert("RGB").getpixel((5, 5))
    assert r > 200 and b < 50
    _img, still_note = load_image_checked(_write(tmp_path / "still.png"))
    assert still_note is None


def _write(path: Path, size: tuple[int, int] = (16, 12), fmt: str | None = None) -> Path:
    _rgb(size).save(path, fmt)
    return path


@pytest.mark.parametrize(
    ("name", "fmt", "size"),
    [
        ("tiny.png", None, (1, 1)),
        ("strip.png", None, (4000, 30)),
        ("upper.JPG", "JPEG", (16, 12)),
        ("no_extension", "PNG", (16, 12)),
        ("photo.webp", None, (16, 12)),
        ("scan.tiff", None, (16, 12)),
        ("paint.bmp", None, (16, 12)),
        ("grey.pgm", None, (16, 12)),
        ("ñandú-图像.png", None, (16, 12)),
    ],
)
def test_valid_images_of_every_shape_and_name_load(tmp_path: Path, name: str, fmt: str | None, size) -> None:
    path = tmp_path / name
    img = _rgb(size).convert("L") if name.endswith(".pgm") else _rgb(size)
    img.save(path, fmt)
    out = load_image(path)
    assert out.size == size and out.mode in ("L", "RGB")
    tensor = image_to_tensor(out, 3)
    assert tensor.dtype == torch.uint8 and tuple(tensor.shape) == (3, size[1], size[0])


def test_image_to_tensor_applies_the_channel_rule() -> None:
    grey = Image.new("L", (3, 2), 77)
    rgb3 = image_to_tensor(grey, 3)
    assert rgb3.shape == (3, 2, 3) and bool((rgb3 == 77).all())
    colour = Image.new("RGB", (3, 2), (200, 100, 50))
    luma = image_to_tensor(colour, 1)
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert luma.shape == (1, 2, 3) and abs(int(luma[0, 0, 0]) - expected) <= 1
    with pytest.raises(ValueError):
        image_to_tensor(colour, 2)
