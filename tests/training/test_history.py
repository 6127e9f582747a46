"""A run's history (issue 13): the trainer's snapshots, their resume, a kill mid-write, damaged files."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.training import Recorder, make_bundle, tiny_config

from cnnstudio.inspect.history import KernelHistory, MapHistory
from cnnstudio.training.store import snapshots as history, runs
from cnnstudio.training.store.checkpoints import load_checkpoint
from cnnstudio.training.fit.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
# 6 classes × 40 images, a quarter for validation: 180 training images, 45 batches of 4.
BATCHES = 45


def _bundle():
    return make_bundle(per_class=40)


def _config(**changes):
    return tiny_config(batch_size=4, **changes)


def _moments(run_dir: Path) -> list[tuple[int, int]]:
    return [(s.epoch, s.batch) for s in history.list_snapshots(run_dir).snapshots]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("history") / "run"
    Trainer(_config(epochs=2), run_dir=run_dir, bundle=_bundle()).fit()
    return run_dir


def test_the_trainer_snapshots_the_start_epoch_1s_early_batches_and_every_epoch_end(run: Path) -> None:
    listing = history.list_snapshots(run)
    assert listing.problems == ()
    # Batch 100 is past epoch 1's end (45 batches): only the points inside the epoch are taken.
    assert _moments(run) == [(1, 0), (1, 1), (1, 10), (1, BATCHES), (2, BATCHES)]
    assert [s.x for s in listing.snapshots] == pytest.approx([0, 1 / BATCHES, 10 / BATCHES, 1.0, 2.0])
    assert [s.global_step for s in listing.snapshots] == [0, 1, 10, BATCHES, 2 * BATCHES]
    last = listing.snapshots[-1]
    assert last.label == "epoch 2" and listing.snapshots[0].label == "initial weights"
    # The last snapshot's kernels are last.pt's first conv layer (stored in fp16).
    weights = load_checkpoint(run / "last.pt")["model"][f"{last.kernel_layer}.weight"].numpy()
    np.testing.assert_allclose(history.read_kernels(last), weights, rtol=1e-3, atol=1e-4)
    assert not np.allclose(history.read_kernels(listing.snapshots[0]), weights, atol=1e-3)  # training moved them
    # The first two conv layers' maps of every probe: all 6 maps of c1, 16 of c3, capped in size.
    assert last.map_layers == ("features.c1", "features.c3")
    assert history.read_maps(last, 0).shape == (6, 6, 12, 12)
    assert history.read_maps(last, 1).shape[:2] == (6, 16)


def test_probes_are_each_classs_first_validation_image_as_the_network_sees_it(run: Path) -> None:
    bundle = _bundle()
    probes = history.read_probes(run)
    assert probes is not None and probes.split == "validation"
    labels = bundle.val.labels.tolist()
    assert probes.labels.tolist() == list(range(6))
    assert probes.indices.tolist() == [labels.index(c) for c in range(6)]
    assert probes.images.dtype == np.uint8 and probes.images.shape == (6, 1, 16, 16)
    np.testing.assert_array_equal(probes.images[2], bundle.val.images[probes.indices[2]].numpy())


def test_feature_maps_are_stored_as_the_model_computes_them(run: Path) -> None:
    model, spec, config = runs.load_model(run, which="last")
    probes = history.read_probes(run)
    from cnnstudio.data.transforms import to_model_input

    x = to_model_input(torch.from_numpy(probes.images), spec, input_size=16, in_channels=1)
    with torch.no_grad():
        expected = model.features.c1(x).numpy()
    stored = history.read_maps(history.list_snapshots(run).snapshots[-1], 0)
    span = expected.max() - expected.min()
    assert np.abs(stored - expected).max() <= span / 255 + 1e-4  # uint8 with each map's own range


def test_one_global_scale_across_the_frames_and_a_per_frame_contrast(run: Path) -> None:
    kh = KernelHistory.load(run)
    assert kh.scale == pytest.approx(max(float(np.abs(k).max()) for k in kh.kernels))
    biggest = int(np.argmax([np.abs(k).max() for k in kh.kernels]))
    frames = [kh.frame(i) for i in range(len(kh))]
    assert all(0.0 <= f.min() and f.max() <= 1.0 for f in frames)
    # Only the frame holding the largest |w| reaches an end of the shared scale.
    inner = lambda f: f[1:-1, 1:-1]  # noqa: E731 - the white padding is not a kernel
    extreme = [min(inner(f).min(), 1 - inner(f).max()) < 1e-3 for f in frames]
    assert extreme[biggest]
    for i in range(len(kh)):
        own = kh.frame(i, per_frame_contrast=True)
        assert min(inner(own).min(), 1 - inner(own).max()) < 1e-3  # every frame at full contrast
    maps = MapHistory.load(run, 0)
    assert maps.layer == "features.c1" and len(maps) == len(kh)
    assert maps.frame(0, probe=3).ndim == 2


def test_a_resume_continues_the_history_without_duplicates_and_keeps_the_probes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    Trainer(_config(epochs=1), run_dir=run_dir, bundle=_bundle()).fit()
    probes_before = (run_dir / "history" / history.PROBES_FILE).read_bytes()
    # A kill after the epoch-2 snapshot but before last.pt: the snapshot is ahead of the checkpoint.
    model, _spec, _config_ = runs.load_model(run_dir, which="last")
    from cnnstudio.training.fit.snapshot_writer import HistoryWriter

    writer = HistoryWriter(run_dir)
    writer.start(model, _bundle(), input_size=16, device="cpu")
    stale = writer.snapshot(model, epoch=2, batch=BATCHES, batches=BATCHES, global_step=999)
    Trainer(_config(epochs=2), resume_from=run_dir, bundle=_bundle()).fit()
    assert _moments(run_dir) == [(1, 0), (1, 1), (1, 10), (1, BATCHES), (2, BATCHES)]
    snap = history.list_snapshots(run_dir).snapshots[-1]
    assert snap.path == stale and snap.global_step == 2 * BATCHES  # written again by the resumed epoch
    assert (run_dir / "history" / history.PROBES_FILE).read_bytes() == probes_before


def test_a_mid_epoch_stop_and_resume_keeps_each_early_snapshot_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    class StopAt(Recorder):
        def on_batch_end(self, trainer, stats) -> None:
            if stats.epoch == 1 and stats.batch == 20:
                trainer.request_stop()

    Trainer(_config(epochs=1), [StopAt()], run_dir=run_dir, bundle=_bundle()).fit()
    assert _moments(run_dir) == [(1, 0), (1, 1), (1, 10)]
    Trainer(_config(epochs=1), resume_from=run_dir, bundle=_bundle()).fit()
    assert _moments(run_dir) == [(1, 0), (1, 1), (1, 10), (1, BATCHES)]


def test_damaged_and_temp_files_are_left_out_and_reported_never_raised(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    folder = copy / "history"
    good = sorted(folder.glob("e*.npz"))
    (folder / ".e0001-b0000005.npz.k3j2.tmp").write_bytes(good[0].read_bytes()[:100])  # a kill mid-write
    (folder / "e0001-b0000020.npz").write_bytes(b"not a snapshot")
    (folder / "e0001-b0000030.npz").write_bytes(good[1].read_bytes()[:-40])  # cut short
    listing = history.list_snapshots(copy)
    assert len(listing.snapshots) == len(good)
    assert len(listing.problems) == 2 and all("left out of the history" in p for p in listing.problems)
    assert len(KernelHistory.load(copy)) == len(good)
    assert runs.open_run(copy).problems == ()  # the run itself is untouched by a damaged history
    assert [r.name for r in runs.list_runs(tmp_path)] == ["run"]


def test_history_off_writes_none(tmp_path: Path) -> None:
    Trainer(_config(epochs=1, history=False), run_dir=tmp_path / "run", bundle=_bundle()).fit()
    assert not (tmp_path / "run" / "history").exists()
    assert len(history.list_snapshots(tmp_path / "run")) == 0


_KILLED_IN_SNAPSHOT = """
import sys, time
from pathlib import Path
from tests.helpers.training import make_bundle, tiny_config
import cnnstudio.files as checkpoints
from cnnstudio.training.fit.trainer import Trainer

real = checkpoints.atomic_write

def hang_in_epoch_2s_snapshot(path, write, **kwargs):
    if Path(path).name.startswith("e0002-"):
        def half(handle):
            handle.write(b"PK\\x03\\x04" + bytes(512))
            handle.flush()
            print("SAVING", flush=True)
            time.sleep(600)
        return real(path, half, **kwargs)
    return real(path, write, **kwargs)

checkpoints.atomic_write = hang_in_epoch_2s_snapshot
Trainer(tiny_config(epochs=3, batch_size=4), run_dir=sys.argv[1], bundle=make_bundle(per_class=40)).fit()
"""


@pytest.mark.slow
def test_a_kill_9_while_a_snapshot_is_written_corrupts_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IN_SNAPSHOT, str(run_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "SAVING", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(list((run_dir / "history").glob(".e0002-*.tmp"))) == 1
    listing = history.list_snapshots(run_dir)  # a reader while the run is dead: no problems, no temp file
    assert listing.problems == () and _moments(run_dir) == [(1, 0), (1, 1), (1, 10), (1, BATCHES)]
    assert runs.open_run(run_dir).epochs_done == 1
    Trainer(_config(epochs=3), resume_from=run_dir, bundle=_bundle()).fit()
    assert not list((run_dir / "history").glob(".*.tmp"))
    assert _moments(run_dir) == [(1, 0), (1, 1), (1, 10), (1, BATCHES), (2, BATCHES), (3, BATCHES)]


def test_an_undone_start_removes_the_history_with_the_run_files(tmp_path: Path) -> None:
    # A queue begins a run killed before its first checkpoint again in the same folder: the
    # probes and the initial snapshot must go with config.json and the rest, and nothing else.
    from cnnstudio.training.store.new_run import discard_new_run_dir, prepare_run_dir

    run_dir = tmp_path / "run"
    Trainer(_config(epochs=1), run_dir=run_dir, bundle=_bundle()).fit()
    assert (run_dir / "history" / history.PROBES_FILE).is_file()
    discard_new_run_dir(run_dir, made=True)
    assert not run_dir.exists()

    Trainer(_config(epochs=1), run_dir=run_dir, bundle=_bundle()).fit()
    (run_dir / "history" / "notes.txt").write_text("mine", encoding="utf-8")
    discard_new_run_dir(run_dir, made=False)
    assert [p.name for p in (run_dir / "history").iterdir()] == ["notes.txt"]  # only cnnstudio's files went
    (run_dir / "history" / "notes.txt").unlink()
    (run_dir / "history").rmdir()
    assert prepare_run_dir(run_dir) is False  # an empty folder again: a new run may start there
