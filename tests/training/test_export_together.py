"""An export's model and sidecar appear together or not at all, through mkstemp temps (issue 23,
items 3 and 4): a full disk or a failed rename keeps the previous pair, a link planted at the
old fixed temp name is never written through, and concurrent exports to one path never collide."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cnnstudio import files
from cnnstudio.errors import ExportError
from cnnstudio.training.weights import export
from cnnstudio.training.weights.export import export_run
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("export") / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=make_bundle()).fit()
    return run_dir


def _old_pair(tmp_path: Path) -> tuple[Path, Path]:
    model, sidecar = tmp_path / "m.pt2", tmp_path / "m.pt2.json"
    model.write_bytes(b"old model")
    sidecar.write_text('{"old": true}')
    return model, sidecar


def test_a_nearly_full_disk_keeps_the_previous_pair(trained_run, tmp_path, monkeypatch) -> None:
    model, sidecar = _old_pair(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - 2**16, 2**16))
    with pytest.raises(ExportError, match=r"not enough free disk space to export .*m\.pt2 and its sidecar: about "
                                          r"\d+ KB needed, 64 KB free — free some space; the previous files are intact"):
        export_run(trained_run, "pt2", model)
    assert model.read_bytes() == b"old model" and sidecar.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt2", "m.pt2.json"]


@pytest.mark.slow
def test_a_sidecar_that_cannot_be_saved_keeps_the_previous_model(trained_run, tmp_path, monkeypatch) -> None:
    model, sidecar = _old_pair(tmp_path)
    real = os.replace

    def full_at_sidecar(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", full_at_sidecar)
    with pytest.raises(ExportError, match="No space left on device — nothing was replaced"):
        export_run(trained_run, "pt2", model)
    assert model.read_bytes() == b"old model" and sidecar.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt2", "m.pt2.json"]  # no temp, no backup left


@pytest.mark.slow
def test_a_link_planted_at_the_old_temp_name_is_never_written_through(trained_run, tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "m.pt2"
    (tmp_path / ".m.partial.pt2").symlink_to(victim)
    (tmp_path / ".m.pt2.json.partial.json").symlink_to(victim)
    report = export_run(trained_run, "pt2", out)
    assert victim.read_text() == "precious"
    assert out.is_file() and not out.is_symlink() and Path(report.sidecar).is_file()
    linked = tmp_path / "linked.pt2"
    linked.symlink_to(victim)  # -o itself a link: replaced by the file, its target untouched
    export_run(trained_run, "pt2", linked)
    assert victim.read_text() == "precious" and not linked.is_symlink()


@pytest.mark.slow
def test_three_concurrent_exports_to_one_path_all_succeed(trained_run, tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "m.pt2"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "cnnstudio", "export", str(trained_run), "--format", "pt2",
                               "-o", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [proc.communicate(timeout=170) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in results]
    assert all("Traceback" not in err for _, err in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt2", "m.pt2.json"]


def test_replace_together_puts_back_what_it_replaced(tmp_path, monkeypatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("old a")
    new_a, new_b = files.temp_beside(a), files.temp_beside(b)
    new_a.write_text("new a")
    new_b.write_text("new b")
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError(5, "I/O error")) if Path(d) == b
                        else real(s, d))
    with pytest.raises(OSError):
        files.replace_together([(new_a, a), (new_b, b)])
    assert a.read_text() == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
