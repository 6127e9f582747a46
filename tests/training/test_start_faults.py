"""Starts that cannot work are refused in one sentence, before anything is made (issue 15 #6–#10, #12)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from cnnstudio.data.loaders import load_dataset
from cnnstudio.errors import CheckpointError, CnnStudioError
from cnnstudio.training.fit import preflight
from cnnstudio.training.store import new_run as run_dirs, runs
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import Recorder, tiny_config


def _refused(run_dir: Path, bundle, *words: str) -> str:
    with pytest.raises(CheckpointError) as caught:
        Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_out_that_is_a_file_or_under_a_file_is_refused(tmp_path: Path, bundle) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    _refused(tmp_path / "notes.txt", bundle, "is a file, not a folder")
    _refused(tmp_path / "notes.txt" / "run", bundle, "a part of this path is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_out_into_a_folder_that_is_not_a_run_is_refused_and_left_alone(tmp_path: Path, bundle) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "last.pt").write_bytes(b"someone else's weights")
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n')
    _refused(folder, bundle, "is not empty and holds no cnnstudio run (last.pt, metrics.jsonl)", "new or empty folder")
    assert (folder / "last.pt").read_bytes() == b"someone else's weights"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "metrics.jsonl"]
    # An empty folder is fine, and the run goes in it.
    (tmp_path / "empty").mkdir()
    assert Trainer(tiny_config(epochs=1), run_dir=tmp_path / "empty", bundle=bundle).fit().epochs_done == 1


def test_a_name_too_long_is_refused_in_words(tmp_path: Path, bundle) -> None:
    _refused(tmp_path / ("r" * 300), bundle, "the name is too long for the file system (300 bytes in one name; at most 255)")


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "is on a read-only file system — choose a folder you can write to"),
    (errno.EACCES, "no permission to write in"),
    (errno.EPERM, "no permission to write in"),  # an immutable folder (chattr +i)
    (errno.ENOSPC, "the disk holding"),
])
def test_unwritable_places_are_refused_in_words(tmp_path: Path, bundle, monkeypatch: pytest.MonkeyPatch,
                                                code: int, words: str) -> None:
    def refuse(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # root can write anywhere: the refusal is simulated
    _refused(tmp_path / "new", bundle, words)
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    with pytest.raises(CheckpointError, match="cannot create the runs folder"):
        Trainer(tiny_config(epochs=1), bundle=bundle).fit()


def test_an_unusable_runs_folder_is_refused_in_words(tmp_path: Path, bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "file"))
    with pytest.raises(CheckpointError, match="the runs folder .*file is a file, not a folder — set CNNSTUDIO_RUNS"):
        Trainer(tiny_config(epochs=1), bundle=bundle).fit()
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "file" / "runs"))
    with pytest.raises(CheckpointError, match="cannot create the runs folder: .*a part of this path is a file"):
        Trainer(tiny_config(epochs=1), bundle=bundle).fit()


def test_generated_names_are_short_and_say_the_variant(tmp_path: Path) -> None:
    long_dataset = str(tmp_path / ("d" * 240))
    made = runs.new_run_dir(tmp_path, arch="vgg16", dataset=long_dataset, options={"batch_norm": True, "dropout": 0.5})
    assert len(os.fsencode(made.name)) <= 110 and made.name.endswith("_vgg16-bn_" + "d" * 40)
    made = runs.new_run_dir(tmp_path, arch="googlenet", dataset="cifar10",
                            options={"aux_logits": False, "batch_norm": False, "lrn": True, "dropout": 0.4})
    assert made.name.endswith("_googlenet-noaux_cifar10")
    made = runs.new_run_dir(tmp_path, arch="lenet5", dataset="caf\udce9 b\udcffilder")  # not UTF-8 bytes
    assert made.name.endswith("_lenet5_caf-b-ilder") and made.name.isascii()


def test_a_refused_start_leaves_no_half_made_folder(tmp_path: Path, bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runs._write_json

    def full_at_spec(path, data):
        if Path(path).name == "spec.json":
            raise CheckpointError(f"could not save {path}: No space left on device")
        real(path, data)

    monkeypatch.setattr(runs, "_write_json", full_at_spec)
    _refused(tmp_path / "new", bundle, "No space left on device")
    assert not (tmp_path / "new").exists()
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    with pytest.raises(CheckpointError):
        Trainer(tiny_config(epochs=1), bundle=bundle).fit()
    assert list((tmp_path / "runs").iterdir()) == []
    (tmp_path / "empty").mkdir()  # a folder the user made is kept, emptied of what we wrote
    _refused(tmp_path / "empty", bundle, "No space left")
    assert (tmp_path / "empty").is_dir() and list((tmp_path / "empty").iterdir()) == []


def test_a_full_disk_at_start_does_not_claim_an_old_file_and_leaves_nothing(tmp_path: Path, bundle,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstudio import files

    monkeypatch.setattr(files.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9, 0))
    message = _refused(tmp_path / "new", bundle, "not enough free disk space to save", "free some space")
    assert "previous file is intact" not in message
    assert not (tmp_path / "new").exists()


def test_an_input_size_that_cannot_fit_is_refused_before_the_run_or_the_data(tmp_path: Path, bundle,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "device_memory", lambda _device: 8 * 10**9)  # an 8 GB machine
    config = TrainConfig(arch="vgg16", dataset="mnist-sample", input_size=2048, batch_size=128, device="cpu")
    with pytest.raises(preflight.InputTooLargeError,
                       match=r"input size 2048 is too large for vgg16: one batch of 128 needs 137 GB for its largest "
                             r"activation alone \(features\.\d+, 64×2048×2048 per image\), and cpu has 8 GB"):
        from cnnstudio.training.fit.training_data import load_training_data

        load_training_data(config)
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    with pytest.raises(CnnStudioError, match="too large"):
        Trainer(tiny_config(input_size=2048, batch_size=4096), run_dir=tmp_path / "new", bundle=bundle).fit()
    assert not (tmp_path / "new").exists() and not (tmp_path / "runs").exists()
    with pytest.raises(CnnStudioError, match=r"input_size must be a whole number from 1 to 2,048; got 100000"):
        TrainConfig(arch="lenet5", input_size=100_000).validate()


def _tiny_folder(root: Path, names: list[bytes], per_class: int) -> Path:
    root.mkdir(parents=True)
    for index, name in enumerate(names):
        folder = os.path.join(os.fsencode(root), name)
        os.mkdir(folder)
        for i in range(per_class):
            Image.new("L", (16, 16), 40 * index + i).save(os.fsdecode(os.path.join(folder, b"%d.png" % i)))
    return root


def test_non_utf8_class_names_are_stored_losslessly_and_shown_readably(tmp_path: Path) -> None:
    names = [b"caf\xe9", b"na\xefve", b"plain"]  # Latin-1 bytes: not UTF-8
    bundle = load_dataset(str(_tiny_folder(tmp_path / "data", names, per_class=4)), store_size=16)
    expected = tuple(sorted(os.fsdecode(n) for n in names))
    assert bundle.spec.classes == expected
    run_dir = tmp_path / "run"
    Trainer(tiny_config(epochs=1, dataset=bundle.spec.name), run_dir=run_dir, bundle=bundle).fit()
    text = (run_dir / "spec.json").read_bytes().decode("utf-8")  # still valid UTF-8
    assert "\\udce9" in text
    info = runs.open_run(run_dir)
    assert info.spec.classes == expected  # the exact names come back
    from cnnstudio.files import readable

    assert readable(expected[0]) == "caf\\xe9"


def test_an_empty_validation_split_trains_without_validation_and_says_so(tmp_path: Path) -> None:
    folder = _tiny_folder(tmp_path / "data", [b"a", b"b", b"c"], per_class=1)
    bundle = load_dataset(str(folder), store_size=16)
    assert len(bundle.val) == 0
    recorder = Recorder()
    run_dir = tmp_path / "run"
    result = Trainer(tiny_config(epochs=2, dataset=str(folder), batch_size=2), [recorder], run_dir=run_dir,
                     bundle=bundle).fit()
    assert any("the validation split is empty" in n and "best.pt holds the last epoch's weights" in n
               for n in recorder.of("notice"))
    assert result.best_val_acc is None
    assert all(stats.is_best for stats in recorder.of("epoch"))  # never ranked on an empty set
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["val_acc"] for row in rows] == [None, None] and "NaN" not in (run_dir / "metrics.jsonl").read_text()
    info = runs.open_run(run_dir)
    assert info.best_val_acc is None and info.epochs_done == 2
    with pytest.raises(CnnStudioError, match="the plateau schedule needs a validation accuracy"):
        Trainer(tiny_config(epochs=2, schedule="plateau"), run_dir=tmp_path / "plateau", bundle=bundle).fit()
    assert not (tmp_path / "plateau").exists()


def test_console_progress_never_prints_nan_percent(tmp_path: Path) -> None:
    import io

    from cnnstudio.cli import ConsoleProgress

    folder = _tiny_folder(tmp_path / "data", [b"a", b"b"], per_class=1)
    bundle = load_dataset(str(folder), store_size=16)
    stream = io.StringIO()
    Trainer(tiny_config(epochs=1, batch_size=2), [ConsoleProgress(stream, bar=False)], run_dir=tmp_path / "run",
            bundle=bundle).fit()
    text = stream.getvalue()
    assert "nan" not in text.lower() and "no validation" in text


def test_check_new_run_dir_refuses_early_without_creating_anything(tmp_path: Path) -> None:
    assert run_dirs.check_new_run_dir(tmp_path / "a" / "b") is True
    assert not (tmp_path / "a").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match="a part of this path is a file"):
        run_dirs.check_new_run_dir(tmp_path / "f" / "run")
