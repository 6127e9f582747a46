"""`evaluate`, `explain` and `neighbours` as a user types them: output, files written, one-line errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.cli import main
from cnnstudio.training.store.runs import open_run

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-inspect")
    folder = write_blocks_folder(root / "blocks")
    other = write_blocks_folder(root / "other", classes=CLASSES[:4] + ("f-elsewhere",))
    image = root / "query.png"
    Image.open(next((folder / CLASSES[1]).iterdir())).save(image)
    return {"folder": folder, "run": train_run(root / "run", folder), "run2": train_run(root / "run2", folder, lr=0.08),
            "stranger": train_run(root / "stranger", other), "image": image, "root": root}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def test_evaluate_prints_the_recorded_top1_the_class_table_and_the_confusions(world, capsys, tmp_path) -> None:
    out_json = tmp_path / "ev.json"
    code, out, err = _run(capsys, "evaluate", world["run"], "--json", out_json)
    assert code == 0, err
    recorded = max(row["val_acc"] for row in open_run(world["run"]).metrics())
    assert f"top-1 {recorded * 100:.1f} %" in out
    for name in CLASSES:
        assert any(line.startswith(name) for line in out.splitlines())
    assert "largest confusions" in out or "no confusions" in out
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["evaluation"]["top1"] == pytest.approx(recorded)
    assert len(data["evaluation"]["records"]["index"]) == 20
    assert len(data["evaluation"]["confusion"]) == len(CLASSES)


def test_evaluate_compares_settings_and_ensembles_like_vggs_tables(world, capsys) -> None:
    code, out, err = _run(capsys, "evaluate", world["run"], world["run2"], "--compare-tta")
    assert code == 0, err
    table = out[out.index("model "):].splitlines()
    assert len(table) == 1 + 5 * 3  # header; two runs and their ensemble for each of the five settings
    assert sum("ensemble of 2" in line for line in table) == 5
    assert any("three scales × ten crops" in line for line in table)


def test_explain_writes_the_overlay_and_the_raw_map_at_input_resolution(world, capsys, tmp_path) -> None:
    overlay, heat = tmp_path / "overlay.png", tmp_path / "map.npy"
    for method in ("gradcam", "gradcam++", "guided"):
        code, out, err = _run(capsys, "explain", world["run"], world["image"], "--method", method,
                              "--class", CLASSES[1], "-o", overlay, "--heatmap", heat)
        assert code == 0, err
        assert f"for class {CLASSES[1]} at features.c3" in out
        with Image.open(overlay) as img:
            assert img.mode == "RGB" and min(img.size) >= 224
        values = np.load(heat, allow_pickle=False)
        assert values.shape == (16, 16) and values.dtype == np.float32
        assert 0 <= values.min() and values.max() <= 1


def test_neighbours_writes_a_grid_and_lists_the_nearest_training_images(world, capsys, tmp_path) -> None:
    grid = tmp_path / "grid.png"
    code, out, err = _run(capsys, "neighbours", world["run"], world["image"], "-k", "4", "-o", grid)
    assert code == 0, err
    ranks = [line for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.", "4.")]
    assert len(ranks) == 4
    distances = [float(line.split("distance ")[1].split()[0]) for line in ranks]
    assert distances == sorted(distances) and distances[0] > 0  # the query file itself is left out
    with Image.open(grid) as img:
        assert img.size[0] > img.size[1]


def test_bad_inputs_are_one_line_each_with_exit_2(world, capsys, tmp_path) -> None:
    run, image = world["run"], world["image"]
    code, _out, err = _run(capsys, "evaluate", run, world["stranger"])
    _one_line_error(code, err, "different classes", "f-elsewhere")
    empty = tmp_path / "no-weights"
    shutil.copytree(run, empty)
    for name in ("best.pt", "last.pt"):
        (empty / name).unlink()
    code, _out, err = _run(capsys, "evaluate", empty)
    _one_line_error(code, err, "no checkpoint")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    code, _out, err = _run(capsys, "explain", run, broken, "-o", tmp_path / "o.png")
    _one_line_error(code, err, "broken.png")
    code, _out, err = _run(capsys, "explain", run, image, "--layer", "conv9", "-o", tmp_path / "o.png")
    _one_line_error(code, err, "conv9", "features.c1 (6 channels), features.c3")
    code, _out, err = _run(capsys, "explain", run, image, "--class", "zebra", "-o", tmp_path / "o.png")
    _one_line_error(code, err, "zebra", CLASSES[0])
    code, _out, err = _run(capsys, "neighbours", run, image, "-k", "0", "-o", tmp_path / "g.png")
    _one_line_error(code, err, "-k")
    code, _out, err = _run(capsys, "evaluate", run, "--data", tmp_path / "missing")
    _one_line_error(code, err, "does not exist")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_a_bad_input_from_a_real_shell_is_one_line_too(world, tmp_path) -> None:
    import os
    import subprocess

    env = dict(os.environ, CNNSTUDIO_RUNS=str(tmp_path / "runs"))
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "explain", str(world["run"]), str(world["image"]),
                             "--layer", "nope", "-o", str(tmp_path / "o.png")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "cnnstudio: lenet5 has no conv layer 'nope'; choose from: features.c1 (6 channels), features.c3 (16 channels)"]
