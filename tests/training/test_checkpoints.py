"""Checkpoints: atomic saves that never destroy the previous file, safe loads with one message per failure."""

from __future__ import annotations

import errno
import pickle
import typing
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from cnnstudio.errors import CheckpointError
from cnnstudio.models.registry import build_model
from cnnstudio import files
from cnnstudio.training.store.checkpoints import load_checkpoint, load_model_state, save_checkpoint


def _payload(model: torch.nn.Module, *, arch: str = "lenet5", num_classes: int = 10) -> dict:
    return {"arch": arch, "num_classes": num_classes, "model": model.state_dict(), "epoch": 3,
            "config": {"arch": arch}, "spec": {"classes": [str(i) for i in range(num_classes)]},
            "best_val_acc": 0.5, "history": [{"epoch": 1, "val_acc": 0.5}]}


@pytest.fixture
def lenet() -> torch.nn.Module:
    return build_model("lenet5", in_channels=1, num_classes=10)


def test_round_trip_keeps_every_value(tmp_path: Path, lenet: torch.nn.Module) -> None:
    path = tmp_path / "last.pt"
    payload = _payload(lenet)
    payload["rng"] = {"torch": torch.get_rng_state(), "python_gauss": None}
    save_checkpoint(path, payload)
    loaded = load_checkpoint(path)
    assert loaded["format"] == "cnnstudio-checkpoint"
    assert loaded["epoch"] == 3 and loaded["history"] == payload["history"] and loaded["best_val_acc"] == 0.5
    assert torch.equal(loaded["rng"]["torch"], payload["rng"]["torch"])
    fresh = build_model("lenet5", in_channels=1, num_classes=10)
    load_model_state(fresh, loaded, arch="lenet5", path=path)
    for name, tensor in lenet.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left behind


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"^no checkpoint at .*nope\.pt — check the path"):
        load_checkpoint(tmp_path / "nope.pt")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty \(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt")


def test_truncated_file(tmp_path: Path, lenet: torch.nn.Module) -> None:
    save_checkpoint(tmp_path / "full.pt", _payload(lenet))
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt is truncated"):
        load_checkpoint(tmp_path / "cut.pt")


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes.pt").write_text("these are my notes, not weights\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt is not a checkpoint \(it is not a PyTorch file\)"):
        load_checkpoint(tmp_path / "notes.pt")


def test_a_plain_pickle_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "data.pt").write_bytes(pickle.dumps({"a": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match=r"data\.pt is not a checkpoint"):
        load_checkpoint(tmp_path / "data.pt")


def test_a_foreign_pytorch_file_is_not_a_cnnstudio_checkpoint(tmp_path: Path, lenet: torch.nn.Module) -> None:
    torch.save(lenet.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"bare\.pt is a PyTorch file but not a cnnstudio checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")


class _Payload:
    """Unpickling this runs `print`: exactly what weights_only must refuse."""

    def __reduce__(self) -> tuple:
        return (print, ("this ran while loading",))


def test_a_pickle_with_code_is_refused_and_never_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"format": "cnnstudio-checkpoint", "model": {}, "x": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"^refusing to load .*evil\.pt: the file contains code, not just weights"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "this ran" not in capsys.readouterr().out


def test_a_folder_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)


def test_wrong_architecture_is_named(tmp_path: Path, lenet: torch.nn.Module) -> None:
    # The name is checked first, so a small model labelled as another architecture stands in for it.
    save_checkpoint(tmp_path / "t.pt", _payload(lenet, arch="alexnet"))
    with pytest.raises(CheckpointError, match=r"t\.pt holds a model of architecture alexnet, not lenet5 — open it as alexnet"):
        load_model_state(lenet, load_checkpoint(tmp_path / "t.pt"), arch="lenet5", path=tmp_path / "t.pt")


def test_other_layers_are_named(tmp_path: Path, lenet: torch.nn.Module) -> None:
    payload = _payload(lenet)
    del payload["model"]["features.c3.bias"]
    save_checkpoint(tmp_path / "odd.pt", payload)
    with pytest.raises(CheckpointError, match=r"does not match this lenet5's layers \(e\.g\. missing 'features\.c3\.bias'\)"):
        load_model_state(lenet, load_checkpoint(tmp_path / "odd.pt"), arch="lenet5")


def test_wrong_number_of_classes_is_named(tmp_path: Path, lenet: torch.nn.Module) -> None:
    save_checkpoint(tmp_path / "ten.pt", _payload(lenet))
    five = build_model("lenet5", in_channels=1, num_classes=5)
    with pytest.raises(CheckpointError, match=r"ten\.pt was trained for 10 classes; this model has 5"):
        load_model_state(five, load_checkpoint(tmp_path / "ten.pt"), arch="lenet5", path=tmp_path / "ten.pt")


def test_other_input_channels_are_named(tmp_path: Path, lenet: torch.nn.Module) -> None:
    save_checkpoint(tmp_path / "grey.pt", _payload(lenet))
    colour = build_model("lenet5", in_channels=3, num_classes=10)
    with pytest.raises(CheckpointError, match=r"layer features\.c1\.weight is \(6, 1, 5, 5\) there, \(6, 3, 5, 5\) here"):
        load_model_state(colour, load_checkpoint(tmp_path / "grey.pt"), arch="lenet5")


def test_a_failing_writer_keeps_the_previous_file(tmp_path: Path, lenet: torch.nn.Module,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _payload(lenet))
    before = path.read_bytes()

    def write_half_then_fail(obj: object, handle: typing.IO[bytes], **kwargs: object) -> None:
        handle.write(b"PK\x03\x04" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", write_half_then_fail)
    with pytest.raises(CheckpointError, match=r"could not save .*last\.pt: No space left on device — the previous file is intact"):
        save_checkpoint(path, _payload(lenet))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 3


def test_a_full_disk_is_refused_before_writing(tmp_path: Path, lenet: torch.nn.Module,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _payload(lenet))
    before = path.read_bytes()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(CheckpointError, match=r"not enough free disk space to save .*last\.pt.*the previous file is intact"):
        save_checkpoint(path, _payload(lenet))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]



def test_files_written_get_the_usual_permissions_not_owner_only(tmp_path) -> None:
    # mkstemp's temp file is 0600; the file the user gets (a run, a PNG, a CSV) follows the umask.
    import os
    import stat

    from cnnstudio.files import atomic_write

    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "table.csv"
    atomic_write(path, lambda handle: handle.write(b"a,b\n"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
