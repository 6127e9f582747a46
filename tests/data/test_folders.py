"""folders.py via load_dataset: ImageFolder layouts, hidden entries, corrupt files skipped
and reported, refusals, symlink loops, in-memory vs streaming (issue 2 §3, issue 5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnstudio.errors import Cancelled
from cnnstudio.data.folders import scan_folder
from cnnstudio.data.loaders import load_dataset, make_loader
from cnnstudio.errors import DatasetError

COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "emu": (40, 40, 220)}


def make_folder(root: Path, per_class: int = 10, classes=("cat", "dog", "emu"), size=(20, 14), mode="RGB") -> Path:
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = COLOURS.get(name, (128, 128, 128))
            img = Image.new("RGB", size, tuple(min(255, c + i) for c in colour))
            (img.convert(mode) if mode != "RGB" else img).save(root / name / f"{i:03d}.png")
    return root


def test_class_folders_become_sorted_classes_with_a_stratified_split(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pets", per_class=10)
    bundle = load_dataset(str(root), store_size=16, seed=3)
    assert bundle.spec.classes == ("cat", "dog", "emu")
    assert bundle.spec.channels == 3 and bundle.spec.native_size == 16
    assert len(bundle.train) == 27 and len(bundle.val) == 3
    assert sorted(bundle.val.labels.tolist()) == [0, 1, 2]
    assert tuple(bundle.train.images.shape) == (27, 3, 16, 16) and bundle.train.images.dtype == torch.uint8
    # Labels follow the folder: every "dog" image is green.
    dogs = bundle.train.images[bundle.train.labels == 1].float()
    assert dogs[:, 1].mean() > 200 and dogs[:, 0].mean() < 60
    again = load_dataset(str(root), store_size=16, seed=3)
    assert torch.equal(again.val.labels, bundle.val.labels) and torch.equal(again.val.images, bundle.val.images)
    assert bundle.scan_report is not None and bundle.scan_report.skipped_count == 0


def test_grey_folder_has_one_channel(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "g", per_class=4, classes=("a", "b"), mode="L")
    assert load_dataset(str(root), store_size=8).spec.channels == 1


def test_existing_train_val_layout_is_used(tmp_path: Path) -> None:
    make_folder(tmp_path / "ds" / "train", per_class=5, classes=("cat", "dog"))
    make_folder(tmp_path / "ds" / "valid", per_class=2, classes=("cat", "dog"))
    bundle = load_dataset(str(tmp_path / "ds"), store_size=8)
    assert bundle.spec.classes == ("cat", "dog")
    assert len(bundle.train) == 10 and len(bundle.val) == 4
    assert bundle.scan_report.layout == "train/val"


def test_hidden_entries_never_become_classes_or_images(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "nb", per_class=3, classes=("cat", "dog"))
    (root / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (4, 4)).save(root / ".ipynb_checkpoints" / "x.png")
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "cat" / ".hidden.png").write_bytes(b"not even an image")
    bundle = load_dataset(str(root), store_size=8)
    assert bundle.spec.classes == ("cat", "dog")
    assert len(bundle.train) + len(bundle.val) == 6 and bundle.scan_report.skipped_count == 0


def test_corrupt_and_non_image_files_are_skipped_and_reported(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "messy", per_class=4, classes=("cat", "dog"))
    (root / "cat" / "empty.jpg").write_bytes(b"")
    (root / "cat" / "page.jpg").write_text("<html>oops</html>")
    (root / "dog" / "readme.txt").write_text("hello")
    good = (root / "dog" / "000.png").read_bytes()
    (root / "dog" / "cut.png").write_bytes(good[: len(good) // 2])
    bundle = load_dataset(str(root), store_size=8)
    report = bundle.scan_report
    assert report.skipped_count == 4 and report.used == 8
    names = {Path(p).name for p, _ in report.skipped}
    assert {"empty.jpg", "page.jpg", "readme.txt", "cut.png"} == names
    assert "skipped 4" in report.summary() and "\n" not in report.summary()
    assert len(bundle.train) + len(bundle.val) == 8


def test_subfolders_inside_a_class_are_searched(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "deep", per_class=2, classes=("cat", "dog"))
    (root / "cat" / "more").mkdir()
    Image.new("RGB", (5, 5)).save(root / "cat" / "more" / "x.PNG")
    assert load_dataset(str(root), store_size=8).scan_report.used == 5


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "loop", per_class=3, classes=("cat", "dog"))
    os.symlink(root / "cat", root / "cat" / "again")
    os.symlink(root, root / "dog" / "up")
    bundle = load_dataset(str(root), store_size=8)
    assert bundle.spec.classes == ("cat", "dog")
    assert bundle.scan_report.used >= 6


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.mkdir(), p)[1], "no class sub-folders"),
        (lambda p: make_folder(p, per_class=2, classes=("only",)), "single class"),
        (lambda p: (make_folder(p, per_class=2, classes=("cat",)), (p / "dog").mkdir(), p)[2], "'dog'"),
    ],
    ids=["missing", "no-classes", "single-class", "empty-class"],
)
def test_unusable_folders_are_refused(tmp_path: Path, build, message: str) -> None:
    root = build(tmp_path / "ds")
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(root))
    assert "\n" not in str(info.value)


def test_class_left_empty_after_screening_is_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", per_class=2, classes=("cat",))
    (root / "dog").mkdir()
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError, match="'dog'.*no usable images.*broken.jpg"):
        load_dataset(str(root))


def test_scan_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", per_class=5, classes=("cat", "dog"))
    seen: list[tuple[int, int]] = []
    scan_folder(root, store_size=8, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1] == (10, 10)
    with pytest.raises(Cancelled):
        scan_folder(root, store_size=8, cancel=lambda: True)


def test_large_folder_streams_and_uses_the_cache(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "big", per_class=6, classes=("cat", "dog"), size=(30, 30))
    cache = tmp_path / "cache"
    bundle = load_dataset(str(root), store_size=12, memory_budget=100, cache_dir=cache)
    assert bundle.train.streaming and bundle.train.images is None
    assert len(list(cache.glob("*.npy"))) == 12
    assert 0.0 < bundle.spec.mean[1] < 1.0
    loader = make_loader(bundle.train, bundle.spec, batch_size=4, input_size=8, in_channels=3, train=True,
                         augment=("crop", "flip", "pca"), device="cpu", seed=0, num_workers=0)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    x, y = batches[0]
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    # The streamed pixels equal the in-memory decode of the same folder.
    small = load_dataset(str(root), store_size=12)
    ev = make_loader(bundle.val, bundle.spec, batch_size=8, input_size=12, in_channels=3, train=False,
                     device="cpu", seed=0, num_workers=0)
    xs = torch.cat([b for b, _ in ev])
    ys = torch.cat([labels for _, labels in ev])
    assert torch.equal(ys, small.val.labels)
    std = torch.tensor(bundle.spec.std)[:, None, None]
    mean = torch.tensor(bundle.spec.mean)[:, None, None]
    pixels = (xs * std + mean) * 255
    assert float((pixels - small.val.images.float()).abs().max()) < 0.01


def test_file_broken_after_the_scan_is_dropped_not_fatal(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "big", per_class=4, classes=("cat", "dog"))
    bundle = load_dataset(str(root), store_size=8, memory_budget=100)
    Path(bundle.train.paths[0]).write_bytes(b"")
    loader = make_loader(bundle.train, bundle.spec, batch_size=50, input_size=8, in_channels=3, train=False,
                         device="cpu", seed=0, num_workers=0)
    (x, y), = list(loader)
    assert x.shape[0] == len(bundle.train) - 1 and loader.bad_files == 1


def test_a_missing_folder_names_its_path_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        scan_folder(absolute)
    assert str(err.value) == f"the folder {absolute} does not exist"
    monkeypatch.chdir(tmp_path)  # a relative path: the full one is worth adding
    with pytest.raises(DatasetError) as err:
        scan_folder("nowhere")
    assert str(err.value) == f"the folder nowhere does not exist ({absolute})"


def test_a_link_out_of_a_class_folder_is_skipped_not_counted_as_the_class(tmp_path) -> None:
    from PIL import Image

    from cnnstudio.data.folders import scan_folder

    root = tmp_path / "imgs"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), 30 * i).save(root / name / f"{i}.png")
    (root / "a" / "loop").symlink_to(root)  # a link to the parent: b's images would count as a's
    (root / "a" / "inner").mkdir()
    Image.new("L", (8, 8), 200).save(root / "a" / "inner" / "x.png")
    (root / "a" / "again").symlink_to(root / "a" / "inner")  # inside its own class: followed (once)
    scan = scan_folder(root)
    labels = scan.train.labels + (scan.val.labels if scan.val is not None else [])
    counts = {name: labels.count(i) for i, name in enumerate(scan.classes)}
    assert counts == {"a": 5, "b": 4}
    assert any("loop" in path and "outside its class" in reason for path, reason in scan.report.skipped)
