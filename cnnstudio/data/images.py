"""Robust image decoding: any file a user drops either becomes an "L"/"RGB" image or an
`ImageError` that names the file and says, in one line, what is wrong with it.

Pillow's `Image.open` is lazy, so every decode (`load()`) happens inside the guard; a
decompression-bomb warning is escalated to an error only inside this module's own
`warnings.catch_warnings()` block; `ImageFile.LOAD_TRUNCATED_IMAGES` and
`Image.MAX_IMAGE_PIXELS` are never touched.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnstudio.errors import ImageError
from cnnstudio.files import NotRegularFileError, open_regular

__all__ = [
    "ALLOWED_FORMATS",
    "image_to_tensor",
    "load_image",
    "load_image_checked",
    "resolve_image_path",
]

# Formats Pillow may even try to parse. EPS/PDF (Ghostscript), PSD and the exotic
# scientific formats are left out on purpose: fewer parsers, fewer surprises.
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO")

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WHITE = 255

# First bytes of formats people commonly try, so the refusal can say what the file is.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%!PS", "EPS/PostScript files are not supported; convert it to PNG or JPEG"),
    (b"\xc5\xd0\xd3\xc6", "EPS/PostScript files are not supported; convert it to PNG or JPEG"),
    (b"%PDF", "PDF files are not supported; export the page as PNG or JPEG"),
    (b"8BPS", "Photoshop files are not supported; export it as PNG or JPEG"),
)


def resolve_image_path(path: str | os.PathLike[str]) -> Path:
    """A local file path from a plain path or a `file://` URL (as a browser drop gives).

    Other URLs (`http://`, `https://`, ...) are refused: only local files are classified.
    """
    text = os.fspath(path)
    if isinstance(text, str) and _URL_SCHEME.match(text):
        parsed = urlparse(text)
        if parsed.scheme.lower() != "file":
            raise ImageError(text, "only local files can be classified; download the image first")
        if parsed.netloc not in ("", "localhost"):
            raise ImageError(text, "only local files can be classified (this file:// URL names another host)")
        return Path(url2pathname(unquote(parsed.path)))
    return Path(text)


def _check_file(path: Path) -> None:
    """Refuse, before Pillow sees it, anything that is not a non-empty regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageError(path, "dangling link: the file it points to does not exist") from None
        raise ImageError(path, "no such file") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")


def _describe_unreadable(path: Path) -> str:
    """Why Pillow could not identify the file, as specifically as its first bytes allow."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    for magic, reason in _SIGNATURES:
        if head.startswith(magic):
            return reason
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")) or b"<html" in stripped:
        return "an HTML/XML text file, not an image (was it saved from a web page?)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "a text file, not an image"
    formats = ", ".join(f for f in ALLOWED_FORMATS if f != "DIB")
    return f"not a readable image in a supported format ({formats})"


def _rescale_to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit grey or float images to 8-bit "L" by their value range.

    A plain `convert("L")` clips 16-bit values at 255 and turns the image almost white.
    """
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        scaled = arr.astype(np.float32) / 257.0  # 65535 -> 255
    elif img.mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        # Pillow has historically opened 16-bit PNG/TIFF as "I": treat it as 16-bit.
        scaled = arr.astype(np.float32) / 257.0
    elif img.mode == "F" and arr.size and np.nanmin(arr) >= 0.0 and np.nanmax(arr) <= 1.0:
        scaled = arr.astype(np.float32) * 255.0
    else:
        # Unknown range (negative or 32-bit values): stretch min..max to 0..255.
        arr = np.nan_to_num(arr.astype(np.float64))
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _on_white(img: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha on a white background, returning `mode` ("L"/"RGB")."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (_WHITE, _WHITE, _WHITE, 255))
    return Image.alpha_composite(background, rgba).convert(mode)


def _to_l_or_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to "L" or "RGB" without losing what the image shows."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _rescale_to_8bit(img)
    if mode in ("LA", "La"):
        return _on_white(img, "L")
    if mode in ("RGBA", "RGBa", "PA"):
        return _on_white(img, "RGB")
    if mode == "P":
        if "transparency" in img.info:
            return _on_white(img, "RGB")
        return img.convert("RGB")
    # CMYK, YCbCr, LAB, HSV, RGBX, ...
    return img.convert("RGB")


def load_image_checked(
    path: str | os.PathLike[str], *, draft: tuple[int, int] | None = None
) -> tuple[Image.Image, str | None]:
    """Decode an image file fully, returning it in mode "L" or "RGB" and an optional note.

    The note tells the user about a choice made for them (e.g. "animated GIF: first
    frame used"). `draft` lets JPEG decode at a reduced scale no smaller than that size
    (folder scans use it; every byte is still decoded, so corrupt files still fail).
    Raises `ImageError(path, reason)` for anything that cannot be used.
    """
    file = resolve_image_path(path)
    _check_file(file)
    note: str | None = None
    with warnings.catch_warnings():
        # Escalated here only: Pillow warns above MAX_IMAGE_PIXELS and errors above twice that.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Opened as a regular file (the check above cannot be raced into a FIFO that blocks).
            with open_regular(file) as handle, Image.open(handle, formats=ALLOWED_FORMATS) as img:
                if getattr(img, "n_frames", 1) > 1:
                    note = f"animated {img.format}: first frame used"
                if draft is not None and img.format == "JPEG":
                    img.draft(img.mode, draft)
                img.load()
                if img.format != "PNG" or "exif" in img.info:  # a PNG without an eXIf chunk has no orientation
                    img = ImageOps.exif_transpose(img)
                img = _to_l_or_rgb(img)
                img.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageError(
                file,
                f"image too large (over {Image.MAX_IMAGE_PIXELS:,} pixels): refused as a possible decompression bomb",
            ) from None
        except NotRegularFileError as exc:
            raise ImageError(file, f"is {exc.kind}, not an image file") from None
        except UnidentifiedImageError:
            raise ImageError(file, _describe_unreadable(file)) from None
        except PermissionError:
            raise ImageError(file, "permission denied: the file cannot be read") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImageError(file, f"corrupt or truncated image data ({detail})") from None
    return img, note


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Decode an image file into mode "L" or "RGB", or raise `ImageError` with the reason."""
    return load_image_checked(path)[0]


def image_to_tensor(img: Image.Image, channels: int):  # -> torch.Tensor (lazy torch import)
    """A uint8 C×H×W tensor with `channels` channels (1 or 3) from an "L"/"RGB" image.

    Grey going to 3 channels is replicated; colour going to 1 channel becomes ITU-R 601
    luma (Pillow's `convert("L")`), the same rule `transforms.to_model_input` applies.
    """
    from torchvision.transforms.v2.functional import pil_to_tensor

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels}")
    img = _to_l_or_rgb(img)
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        img = img.convert(target)
    return pil_to_tensor(img)
