"""Hostile numbers and names on the command line and in run folders (issue 23, items 12, 14, 15,
16, 21, 26, 27): one parser per kind of number, one device parser, one layer-name resolver, and
one bad run that never hides the others — each a one-line refusal, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.cli import main
from cnnstudio.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("numbers")
    folder = write_blocks_folder(root / "blocks", per_class=6)
    image = root / "query.png"
    Image.open(next((folder / CLASSES[1]).iterdir())).save(image)
    return {"run": train_run(root / "runs" / "run", folder, epochs=1), "image": image, "folder": folder}


def _run(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _one_line(capsys, *args: object) -> str:
    code, _out, err = _run(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("device", ["bogus", "meta", "cuda:x", "cpu:1"])
@pytest.mark.parametrize("verb", ["train", "evaluate", "explain", "neighbours", "dream"])
def test_every_verb_refuses_a_bad_device_in_one_line(world, capsys, tmp_path, verb, device) -> None:
    args = {"train": ("train", "--arch", "lenet5"), "evaluate": ("evaluate", world["run"]),
            "explain": ("explain", world["run"], world["image"], "-o", tmp_path / "x.png"),
            "neighbours": ("neighbours", world["run"], world["image"], "-o", tmp_path / "x.png"),
            "dream": ("dream", world["run"], "--class", "all", "-o", tmp_path / "x.png")}[verb]
    line = _one_line(capsys, *args, "--device", device)
    assert "device must be auto, cpu, cuda, cuda:N or mps" in line and repr(device) in line


def test_the_engine_refuses_a_bad_device_name_in_words() -> None:
    from cnnstudio.errors import CnnStudioError
    from cnnstudio.training.fit.devices import resolve_device

    with pytest.raises(CnnStudioError, match="device must be"):
        resolve_device("meta")


@pytest.mark.parametrize(("args", "words"), [
    (("--tile", "0"), "--tile"), (("--tile", "-5"), "--tile"), (("--tile", "100000"), "8 to 512"),
    (("--seed", str(2**70)), "--seed"), (("--tv", "nan"), "--tv"), (("--tv", "inf"), "--tv"),
    (("--l2", "nan"), "--l2"), (("--steps", "1" * 500), "--steps"),
])
def test_dream_refuses_absurd_numbers_in_one_line(world, capsys, tmp_path, args, words) -> None:
    line = _one_line(capsys, "dream", world["run"], "--class", "all", "-o", tmp_path / "x.png", "--steps", "1", *args)
    assert words in line
    assert not (tmp_path / "x.png").exists()


def test_a_huge_channel_range_is_refused_before_any_list_is_built(world, capsys, tmp_path) -> None:
    line = _one_line(capsys, "dream", world["run"], "--layer", "c1", "--channels", "0-2000000000",
                     "-o", tmp_path / "x.png")
    assert "at most 256 channels" in line


@pytest.mark.parametrize(("flag", "value"), [("--lr", "1e39"), ("--lr", "1e300"), ("--lr", "nan"),
                                             ("--weight-decay", "1e300"), ("--momentum", "inf"),
                                             ("--epochs", "9" * 401), ("--seed", "-1")])
def test_train_refuses_absurd_settings_before_anything_runs(capsys, flag, value) -> None:
    line = _one_line(capsys, "train", "--arch", "lenet5", "--dataset", "mnist-sample", flag, value, "--estimate")
    assert flag in line


def test_a_sweep_variant_with_an_absurd_lr_is_refused_by_the_config_schema(capsys) -> None:
    line = _one_line(capsys, "sweep", "--arch", "lenet5", "--dataset", "mnist-sample", "--vary", "lr=1e39,0.1")
    assert "lr must be a number > 0 and ≤ 1e+30" in line


@pytest.mark.slow
def test_an_unexpected_failure_of_one_sweep_run_marks_it_failed_and_the_next_one_trains(world, capsys, monkeypatch,
                                                                                      tmp_path) -> None:
    import cnnstudio.cli as cli
    from cnnstudio.training.experiments.queue import TrainingQueue

    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    real_fit, calls = cli._fit_with_ctrl_c_as_stop, []

    def first_one_breaks(trainer):
        calls.append(trainer)
        if len(calls) == 1:
            raise RuntimeError("value cannot be converted to type float without overflow")
        return real_fit(trainer)

    monkeypatch.setattr(cli, "_fit_with_ctrl_c_as_stop", first_one_breaks)
    code, _out, err = _run(capsys, "sweep", "--arch", "lenet5", "-o", "activation=relu", "--dataset", world["folder"],
                           "--epochs", "1", "--input-size", "16", "--batch-size", "8", "--device", "cpu",
                           "--vary", "lr=0.05,0.01")
    assert code == 0 and len(calls) == 2, err
    folder = next((tmp_path / "runs").glob("*_sweep-*"))
    queue = TrainingQueue.load(folder)
    states = [queue.status(item.id) for item in queue.items]
    assert states[0].state == "failed" and "RuntimeError: value cannot be converted" in states[0].reason
    assert states[1].state == "done"


def test_one_run_holding_a_401_digit_number_hides_no_other_run(world, capsys, tmp_path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(world["run"], root / "good")
    shutil.copytree(world["run"], root / "huge")
    metrics = root / "huge" / "metrics.jsonl"
    row = json.loads(metrics.read_text().splitlines()[0])
    row["train_loss"] = 10**400
    metrics.write_text(json.dumps(row) + "\n")
    code, out, _err = _run(capsys, "runs", "--root", root)
    names = [line.split()[0] for line in out.splitlines()[2:]]  # the rows under the header, by folder name
    assert code == 0 and {"good", "huge"} <= set(names)
    code, out, _err = _run(capsys, "compare", "--root", root)
    assert code == 0 and "good" in out and "huge" in out
    code, _out, err = _run(capsys, "kernels", root / "huge", "-o", tmp_path / "k.png")
    assert code == 0, err


def test_any_failure_reading_one_run_is_that_runs_one_line(world, capsys, tmp_path, monkeypatch) -> None:
    from cnnstudio.training.store import schema as run_files, runs

    root = tmp_path / "runs"
    shutil.copytree(world["run"], root / "good")
    shutil.copytree(world["run"], root / "odd")
    real = run_files.check_run_meta

    def unforeseen(data):
        if data.get("status") == "odd":
            raise OverflowError("int too large to convert to float")
        return real(data)

    meta = json.loads((root / "odd" / "run.json").read_text())
    meta["status"] = "odd"
    (root / "odd" / "run.json").write_text(json.dumps(meta))
    monkeypatch.setattr(run_files, "check_run_meta", unforeseen)
    listed = runs.list_runs(root)
    assert [run.name for run in listed] == ["good", "odd"] and not listed[1].readable
    assert "OverflowError" in listed[1].problem
    with pytest.raises(CheckpointError, match="cannot be read .OverflowError"):
        runs.open_run(root / "odd")
    line = _one_line(capsys, "train", "--resume", root / "odd")
    assert "OverflowError" in line


def test_explain_and_dream_read_a_layer_name_the_same_way(world, capsys, tmp_path) -> None:
    code, out, err = _run(capsys, "explain", world["run"], world["image"], "--layer", "c1", "-o", tmp_path / "x.png")
    assert code == 0 and "at features.c1" in out, err
    code, out, err = _run(capsys, "dream", world["run"], "--layer", "c1", "--channels", "0-1", "--steps", "1",
                          "-o", tmp_path / "d.png")
    assert code == 0 and "features.c1" in out, err
    for verb_args in (("explain", world["run"], world["image"]), ("dream", world["run"])):
        line = _one_line(capsys, *verb_args, "--layer", "c9", "-o", tmp_path / "y.png")
        assert "no conv layer 'c9'; choose from: features.c1 (6 channels), features.c3 (16 channels)" in line


def test_an_ambiguous_last_part_names_the_layers_it_could_be() -> None:
    from cnnstudio.errors import UnknownNameError
    from cnnstudio.inspect.cam import CamLayer, resolve_layer

    layers = [CamLayer("a.conv", "conv", (4, 8, 8)), CamLayer("b.conv", "conv", (8, 4, 4))]
    assert resolve_layer(layers, "b.conv", owner="net").name == "b.conv"
    with pytest.raises(UnknownNameError, match="several layers of net .a.conv, b.conv.; give the full name"):
        resolve_layer(layers, "conv", owner="net")


def test_neighbours_k_is_capped_with_a_word(world, capsys, tmp_path) -> None:
    line = _one_line(capsys, "neighbours", world["run"], world["image"], "-k", str(10**9), "-o", tmp_path / "g.png")
    assert "-k" in line and "1 to 100" in line
    assert not (tmp_path / "g.png").exists()
    code, out, err = _run(capsys, "neighbours", world["run"], world["image"], "-k", "100", "--split", "val",
                          "-o", tmp_path / "g.png")
    assert code == 0 and "note: -k 100:" in err and "has only" in err


@pytest.mark.slow
def test_weights_that_are_not_finite_are_refused_in_one_line(world, capsys, tmp_path) -> None:
    from cnnstudio.training.store.checkpoints import load_checkpoint

    run = tmp_path / "nan-run"
    shutil.copytree(world["run"], run)
    for name in ("best.pt", "last.pt"):
        checkpoint = load_checkpoint(run / name)
        checkpoint["model"]["features.c1.weight"].fill_(float("nan"))
        torch.save(checkpoint, run / name)
    line = _one_line(capsys, "classify", run, world["image"])
    assert "not finite" in line and "features.c1.weight" in line
    weights = tmp_path / "alexnet-nan.pth"
    import torchvision.models as tvm

    state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
             for k, v in tvm.alexnet(weights=None).state_dict().items()}
    torch.save(state, weights)
    line = _one_line(capsys, "classify", "--pretrained", "alexnet", "--weights", weights, world["image"])
    assert "not finite" in line


def test_the_runs_tabs_cache_leaves_out_a_run_it_cannot_read_and_keeps_the_others(world) -> None:
    from types import SimpleNamespace

    from cnnstudio.training.experiments.compare import RunCache
    from cnnstudio.training.store.runs import open_run

    def explode():
        raise OverflowError("int too large to convert to float")

    good = open_run(world["run"])
    broken = SimpleNamespace(readable=True, path=world["run"].parent / "broken", epochs_done=1, variant="lenet5",
                             history=explode)
    rows, curves = RunCache().read_all([good, broken])
    assert [row.path for row in rows] == [good.path] and list(curves) == [good.path]
