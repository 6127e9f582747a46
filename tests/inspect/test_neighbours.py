"""Nearest neighbours: the features, the exact k-NN, and the run folder's cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.inspect import neighbours as nb
from cnnstudio.inspect.evaluate import split_data
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.inspect.neighbours import FeatureBank, extract_features, feature_layer, neighbour_grid, run_feature_bank
from cnnstudio.models.registry import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_knn_is_exact_euclidean_and_leaves_out_the_query() -> None:
    g = torch.Generator().manual_seed(0)
    bank_x = torch.randn(300, 16, generator=g)
    queries = torch.randn(4, 16, generator=g)
    bank = FeatureBank(bank_x)
    found = bank.query(queries, k=5)
    reference = torch.cdist(queries.double(), bank_x.double())
    ref_d, ref_i = reference.topk(5, dim=1, largest=False)
    assert np.array_equal(found.indices, ref_i.numpy())
    assert np.allclose(found.distances, ref_d.numpy(), atol=1e-4)
    # A bank row as the query: by index, or as the very same vector.
    by_index = bank.query(bank_x[7], k=3, exclude=7)
    by_value = bank.query(bank_x[7], k=3, exclude_self=True)
    assert 7 not in by_index.indices[0] and np.array_equal(by_index.indices, by_value.indices)
    assert bank.query(bank_x[7], k=1).indices[0, 0] == 7
    with pytest.raises(Exception, match="k must be at least 1"):
        bank.query(queries, k=0)


def test_features_are_the_input_of_the_classifiers_last_linear_in_eval_mode(tiny_run: Path) -> None:
    trained = TrainedModel.from_run(tiny_run)
    model = trained.model.train()  # extraction must switch to eval itself, and back
    assert feature_layer(model) is model.classifier.output
    data = split_data(tiny_run, "val")
    features = extract_features(trained, data, batch_size=7)
    assert model.training
    with torch.no_grad():
        model.eval()
        x = trained.to_input(data.images.images)
        h = model.features(x)
        expected = model.classifier[:-1](torch.flatten(model.avgpool(h) if h.shape[-1] != 5 else h, 1))
    assert features.shape == (20, 84) and features.dtype == np.float32
    assert np.allclose(features, expected.numpy(), atol=1e-5)


def test_feature_layer_of_googlenet_with_aux_heads_is_the_main_classifier() -> None:
    with torch.device("meta"):
        model = build_model("googlenet", in_channels=3, num_classes=5)
    assert feature_layer(model) is model.classifier.fc and feature_layer(model).in_features == 1024


def test_the_cache_is_a_plain_npy_reused_until_the_checkpoint_changes(tiny_run: Path, monkeypatch, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    calls = []
    real = nb.extract_features

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(nb, "extract_features", counting)
    trained = TrainedModel.from_run(run)
    bank, data = run_feature_bank(trained)
    files = list((run / nb.FEATURES_FOLDER).glob("*.npy"))
    assert len(files) == 1 and files[0].name.startswith("train-best-")
    stored = np.load(files[0], allow_pickle=False)  # no pickle needed to read it
    assert stored.shape == (len(data), 84) and np.array_equal(stored, bank.features.numpy())
    run_feature_bank(TrainedModel.from_run(run))
    assert len(calls) == 1  # read back, not extracted again
    # A new best.pt (a resumed run) has another size or time: extracted again, the old file removed.
    best = run / "best.pt"
    os.utime(best, ns=(best.stat().st_atime_ns, best.stat().st_mtime_ns + 10**9))
    run_feature_bank(TrainedModel.from_run(run))
    assert len(calls) == 2
    assert [f.name for f in (run / nb.FEATURES_FOLDER).glob("*.npy")] != [files[0].name]
    assert len(list((run / nb.FEATURES_FOLDER).glob("*.npy"))) == 1


def test_the_grid_shows_the_query_and_each_neighbour() -> None:
    img = np.zeros((16, 16, 1), dtype=np.uint8)
    grid = neighbour_grid(img, "query", [img] * 3, ["a\nd = 1", "b\nd = 2", "c\nd = 3"], tile=40)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[1] == 4 * (40 + 8) + 8  # four tiles in one row
