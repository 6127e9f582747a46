"""Fine-tuning from pretrained weights: what loads, what trains, and that it beats starting from scratch.

No ImageNet weights are available offline, so the "beats scratch" test pretrains its own
source net in the test: LeNet-5 on the real mnist-sample digits 0–4, then fine-tunes it on
a small image folder of the digits 5–9 (6 training images a class), against the same net
from scratch with the same budget. It shows the fine-tuning machinery transfers features
(head replaced, body loaded, the LR modes); it says nothing about ImageNet figures.
The torchvision path (key map, grey conv1) is checked on GoogLeNet's file shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from PIL import Image
from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.data.loaders import DatasetBundle, ImageSet, load_dataset
from cnnstudio.errors import CnnStudioError
from cnnstudio.training.weights.pretrained import cache_path
from cnnstudio.training.weights.finetune import LOWER_LR_FACTOR, head_parameter_names
from cnnstudio.training.store.runs import open_run
from cnnstudio.training.fit.trainer import Trainer
from cnnstudio.training.fit.training_data import load_training_data

LENET = {"activation": "relu", "pool": "max"}
pytestmark = pytest.mark.slow  # every test here starts from a LeNet-5 trained for it (seconds)


def _subset(images: torch.Tensor, labels: torch.Tensor, digits: range, per_class: int) -> tuple:
    picks = [torch.nonzero(labels == d).flatten()[:per_class] for d in digits]
    index = torch.cat(picks)
    return images[index], labels[index] - digits.start


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-sample")


@pytest.fixture(scope="module")
def source_run(digits, tmp_path_factory) -> Path:
    """LeNet-5 trained on the digits 0–4 (the 'pretrained' net)."""
    train_x, train_y = _subset(digits.train.images, digits.train.labels, range(0, 5), 400)
    val_x, val_y = _subset(digits.val.images, digits.val.labels, range(0, 5), 20)
    spec = digits.spec.__class__(name="digits0-4", channels=1, classes=tuple("01234"), mean=digits.spec.mean,
                                 std=digits.spec.std, native_size=28)
    bundle = DatasetBundle(spec, ImageSet(train_y, train_x), ImageSet(val_y, val_x))
    run_dir = tmp_path_factory.mktemp("source") / "run"
    config = tiny_config(arch_options=LENET, dataset="digits0-4", input_size=28, epochs=3, batch_size=32, lr=0.05)
    Trainer(config, run_dir=run_dir, bundle=bundle).fit()
    return run_dir


@pytest.fixture(scope="module")
def target_folder(digits, tmp_path_factory) -> Path:
    """A small photo-folder-like dataset: digits 5–9 as PNG files, train/ and val/."""
    root = tmp_path_factory.mktemp("folder") / "digits5-9"
    for split, images, labels, count in (("train", digits.train.images, digits.train.labels, 6),
                                         ("val", digits.val.images, digits.val.labels, 30)):
        x, y = _subset(images, labels, range(5, 10), count)
        for i, (image, label) in enumerate(zip(x, y.tolist())):
            folder = root / split / f"digit{label + 5}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[0].numpy()).save(folder / f"{i}.png")
    return root


def _fit(folder: Path, run_dir: Path, **changes) -> float:
    config = tiny_config(arch_options=LENET, dataset=str(folder), input_size=28, epochs=6, batch_size=10,
                         lr=0.02, **changes)
    return Trainer(config, run_dir=run_dir, bundle=load_training_data(config)).fit().best_val_acc


def test_fine_tuning_beats_training_from_scratch_by_a_wide_margin(source_run, target_folder, tmp_path):
    # Measured here: 33 % from scratch, 65 % fine-tuned ("all"), in the same 6 epochs of 30 images.
    scratch = _fit(target_folder, tmp_path / "scratch")
    tuned = _fit(target_folder, tmp_path / "tuned", pretrained_weights=str(source_run / "best.pt"))
    assert tuned >= scratch + 0.2, (scratch, tuned)
    config = open_run(tmp_path / "tuned").config
    assert config.weights_source == str(source_run / "best.pt")  # the run records where it started from


def test_the_body_loads_the_head_is_new_and_head_only_freezes_the_rest(source_run, target_folder, tmp_path):
    config = tiny_config(arch_options=LENET, dataset=str(target_folder), input_size=28, epochs=1, batch_size=10,
                         pretrained_weights=str(source_run / "best.pt"), finetune="head")
    trainer = Trainer(config, run_dir=tmp_path / "run", bundle=load_training_data(config))
    source = torch.load(source_run / "best.pt", weights_only=True)["model"]
    trainer.fit()
    state = trainer.model.state_dict()
    head = head_parameter_names(trainer.model)
    last = [name for name, m in trainer.model.classifier.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    assert head == [f"classifier.{last}.weight", f"classifier.{last}.bias"]
    assert not torch.equal(state[head[0]], source[head[0]])  # a new head for the digits 5–9, not the 0–4 one
    for key, tensor in source.items():
        if key not in head:
            assert torch.equal(state[key], tensor), key  # frozen: not a single step changed them
    assert [group["params"] for group in trainer._optimizer.param_groups] == \
        [[p for n, p in trainer.model.named_parameters() if n in head]]


def test_lower_mode_gives_the_pretrained_layers_a_tenth_of_the_lr(source_run, target_folder, tmp_path):
    config = tiny_config(arch_options=LENET, dataset=str(target_folder), input_size=28, epochs=1, lr=0.04,
                         pretrained_weights=str(source_run / "best.pt"), finetune="lower")
    trainer = Trainer(config, run_dir=tmp_path / "run", bundle=load_training_data(config))
    trainer.fit()
    assert [g["lr"] for g in trainer._optimizer.param_groups] == pytest.approx([0.04, 0.04 * LOWER_LR_FACTOR])


def test_torchvision_weights_fine_tune_on_grey_data_with_conv1_summed_over_rgb(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = cache_path("googlenet")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = tvm.GoogLeNet(aux_logits=True, init_weights=True)
    torch.save(reference.state_dict(), path)
    bundle = make_bundle(size=32, classes=4, per_class=4)
    config = tiny_config(arch="googlenet-torchvision", arch_options={"aux_logits": True}, input_size=32,
                         epochs=1, batch_size=8, pretrained="googlenet", finetune="head")
    trainer = Trainer(config, run_dir=tmp_path / "run", bundle=bundle)
    trainer.fit()
    state = trainer.model.state_dict()
    assert torch.allclose(state["features.conv1.conv.weight"], reference.conv1.conv.weight.sum(1, keepdim=True))
    assert torch.equal(state["features.inception4e.branch3.1.conv.weight"], reference.inception4e.branch3[1].conv.weight)
    assert state["classifier.fc.weight"].shape == (4, 1024) and state["aux2.fc2.weight"].shape == (4, 1024)
    assert torch.equal(state["aux1.fc1.weight"], reference.aux1.fc1.weight)  # aux bodies load too
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["pretrained"] == "googlenet" and saved["weights_source"].startswith(
        f"torchvision GoogLeNet_Weights.IMAGENET1K_V1 ({path}")


def test_pretrained_weights_for_another_arch_are_refused_in_words():
    with pytest.raises(CnnStudioError, match="the vgg16 weights are for vgg16, not vgg11"):
        tiny_config(arch="vgg11", arch_options={}, input_size=32, pretrained="vgg16").validate()
    with pytest.raises(CnnStudioError, match="finetune=head needs pretrained weights"):
        tiny_config(finetune="head").validate()
