"""History snapshots planted or damaged (issue 23, items 13 and 22): what a snapshot may decode to
is bounded by its header before anything is decoded, non-finite or complex kernels and absurd
meta are left out with a note (no numpy warnings, no blank frames), and a GIF never holds every
frame at once."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.cli import main
from cnnstudio.inspect.history import KernelHistory, gif_frames, history_gif
from cnnstudio.training.store import snapshots as history
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("history-hostile") / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=make_bundle()).fit()
    return run_dir


@pytest.fixture
def run(good_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy)
    return copy


def _plant(run: Path, name: str, *, kernels: np.ndarray | None = None, **meta_changes: object) -> Path:
    """A snapshot like the run's last one, with other kernels or meta (compressed, as an attacker would)."""
    last = history.list_snapshots(run).snapshots[-1]
    with np.load(last.path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(bytes(arrays.pop("meta")).decode())
    meta.update(meta_changes)
    if kernels is not None:
        arrays["kernels"] = kernels
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    path = history.history_dir(run) / name
    path.write_bytes(buffer.getvalue())
    return path


def _load_quietly(run: Path) -> KernelHistory:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw numpy RuntimeWarning fails the test
        return KernelHistory.load(run)


def test_a_small_file_holding_a_huge_array_is_refused_by_its_header(run: Path) -> None:
    path = _plant(run, "e0009-b0000000.npz", kernels=np.zeros((1, 1, 6000, 6000), np.float16))
    assert path.stat().st_size < 200_000  # compressed: the size cap alone cannot stop it
    listing = history.list_snapshots(run)
    assert path not in [s.path for s in listing.snapshots]
    assert any("1×1×6000×6000" in p and "not a first conv layer's weights" in p for p in listing.problems)


def test_kernels_of_another_shape_than_the_runs_are_left_out_with_a_note(run: Path) -> None:
    usual = KernelHistory.load(run)
    _plant(run, "e0009-b0000000.npz", kernels=np.ones((6, 1, 3, 3), np.float16))
    loaded = _load_quietly(run)
    assert len(loaded) == len(usual) and any("6×1×3×3, not the run's 6×1×5×5" in p for p in loaded.problems)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300, "complex"])
def test_kernels_that_are_not_finite_real_numbers_are_left_out_without_numpy_warnings(run: Path, bad) -> None:
    usual = KernelHistory.load(run)
    shape = usual.kernels[0].shape
    kernels = (np.ones(shape, np.complex64) if bad == "complex"
               else np.full(shape, bad, np.float64 if bad == 1e300 else np.float16))
    _plant(run, "e0009-b0000000.npz", kernels=kernels)
    loaded = _load_quietly(run)
    assert len(loaded) == len(usual) and loaded.problems
    assert np.isfinite(loaded.scale) and loaded.scale == usual.scale  # no frame blanked by an inf scale


@pytest.mark.parametrize("meta", [{"epoch": 10**12}, {"batch": 10**15, "batches": 0}, {"batch": 5, "batches": 0},
                                  {"epoch": 0}, {"time": "soon"}, {"time": 1e300}])
def test_a_snapshot_with_absurd_meta_is_left_out_with_a_note(run: Path, meta: dict) -> None:
    before = len(history.list_snapshots(run))
    _plant(run, "e0009-b0000000.npz", **meta)
    listing = history.list_snapshots(run)
    assert len(listing) == before and len(listing.problems) == 1


def test_kernels_all_with_planted_snapshots_writes_the_gif_and_notes_each(run: Path, tmp_path: Path, capsys) -> None:
    _plant(run, "e0009-b0000000.npz", kernels=np.zeros((1, 1, 6000, 6000), np.float16))
    _plant(run, "e0009-b0000001.npz", kernels=np.full((6, 1, 5, 5), np.nan, np.float16))
    code = main(["kernels", str(run), "--all", "-o", str(tmp_path / "k.gif")])
    _out, err = capsys.readouterr()
    assert code == 0 and err.count("note: ") == 2 and "Traceback" not in err


def test_a_gif_shows_at_most_a_bounded_number_of_frames_evenly_spaced(run: Path) -> None:
    picks = gif_frames(2005)
    assert len(picks) == 240 and picks[0] == 0 and picks[-1] == 2004
    assert gif_frames(7) == list(range(7)) and gif_frames(10, 4) == [0, 3, 6, 9]
    loaded = KernelHistory.load(run)
    from PIL import Image

    assert Image.open(io.BytesIO(history_gif(loaded))).n_frames == len(loaded)


def test_a_history_larger_than_the_budget_is_read_at_evenly_spaced_snapshots(run: Path, monkeypatch) -> None:
    import cnnstudio.inspect.history as pictures

    every = history.list_snapshots(run).snapshots
    assert len(every) >= 3
    monkeypatch.setattr(pictures, "MAX_KERNEL_BYTES", 2 * 4 * 6 * 1 * 5 * 5)  # two snapshots' kernels
    loaded = _load_quietly(run)
    assert len(loaded) == 2 and loaded.snapshots[0] == every[0] and loaded.snapshots[-1] == every[-1]
    assert any("evenly spaced ones are shown" in p for p in loaded.problems)


def test_probes_claiming_a_huge_image_are_not_decoded(run: Path) -> None:
    path = history.history_dir(run) / history.PROBES_FILE
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["images"] = np.zeros((1, 1, 6000, 6000), np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    assert history.read_probes(run) is None


def test_maps_whose_ranges_are_not_finite_are_left_out_without_numpy_warnings(run: Path) -> None:
    from cnnstudio.inspect.history import MapHistory

    usual = MapHistory.load(run, 0)
    last = history.list_snapshots(run).snapshots[-1]
    with np.load(last.path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["ranges0"] = np.full(arrays["ranges0"].shape, np.inf, np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    (history.history_dir(run) / "e0009-b0000000.npz").write_bytes(buffer.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = MapHistory.load(run, 0)
    assert len(loaded) == len(usual) and any("not finite" in p for p in loaded.problems)
    assert all(np.isfinite(loaded.scale(p)) for p in range(loaded.maps[0].shape[0]))


def test_kernels_of_another_shape_than_the_runs_first_layer_are_left_out_even_when_most(run: Path, capsys,
                                                                                        tmp_path: Path) -> None:
    from cnnstudio.inspect.history import run_kernel_shape

    assert run_kernel_shape(run) == (6, 1, 5, 5)
    for i in range(6):  # more planted snapshots than the run's own
        _plant(run, f"e0009-b000000{i}.npz", kernels=np.ones((6, 1, 3, 3), np.float16))
    loaded = KernelHistory.load(run, kernel_shape=run_kernel_shape(run))
    assert {k.shape for k in loaded.kernels} == {(6, 1, 5, 5)}
    assert main(["kernels", str(run), "--all", "-o", str(tmp_path / "k.gif")]) == 0
    assert capsys.readouterr().err.count("not the run's 6×1×5×5") == 6
