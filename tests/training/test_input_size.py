"""One rule for the input size: the dataset's, raised to the architecture's minimum (issue 11, items 1 and 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from tests.helpers.training import tiny_config

from cnnstudio.errors import CnnStudioError
from cnnstudio.training.input_size import choose_input_size, config_input_size, dataset_native_size
from cnnstudio.training.fit.trainer import Trainer


@pytest.mark.parametrize(
    ("arch", "dataset", "options", "size", "source"),
    [
        ("vgg16", "mnist-sample", None, 32, "minimum"),  # 28 raised to VGG's 32, not the paper's 224
        ("alexnet", "mnist", None, 63, "minimum"),
        ("lenet5", "mnist-sample", None, 32, "minimum"),  # LeNet-5's design needs 32, as the paper padded MNIST
        ("vgg16", "cifar10", {"batch_norm": True}, 32, "dataset"),
        ("googlenet", "cifar10", None, 79, "minimum"),  # the auxiliary heads need 79
        ("googlenet", "cifar10", {"aux_logits": False}, 32, "dataset"),  # 31 without them
        ("tricks", "fashion-mnist", None, 32, "minimum"),
    ],
)
def test_the_dataset_size_raised_to_the_architectures_minimum(arch, dataset, options, size, source) -> None:
    choice = choose_input_size(arch, dataset, arch_options=options)
    assert (choice.size, choice.source) == (size, source)


def test_the_papers_size_or_any_size_only_when_asked() -> None:
    paper = choose_input_size("vgg16", "mnist-sample", paper_size=True)
    assert (paper.size, paper.source) == (224, "paper")
    assert choose_input_size("vgg16", "mnist-sample", input_size=100).size == 100
    assert choose_input_size("vgg16").size == 224  # no dataset: the paper's own network
    with pytest.raises(CnnStudioError, match="not both"):
        choose_input_size("vgg16", "mnist-sample", input_size=64, paper_size=True)


def test_the_sentence_says_why() -> None:
    assert choose_input_size("vgg16", "mnist-sample").sentence == \
        "32×32: mnist-sample's 28×28 raised to vgg16's minimum"
    assert choose_input_size("vgg16", "cifar10").sentence == "32×32: cifar10's own size"
    assert choose_input_size("lenet5", "mnist").sentence == \
        "32×32: mnist's 28×28 raised to the size lenet5 is designed for"
    assert "paper" in choose_input_size("vgg16", "cifar10", paper_size=True).sentence


def _folder(root: Path, size: tuple[int, int]) -> Path:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", size, (40 * i, 90, 200)).save(root / label / f"{i}.png")
    (root / "a" / "notes.txt").write_text("not an image")
    return root


def test_a_folder_is_measured_from_its_images(tmp_path: Path) -> None:
    small = _folder(tmp_path / "small", (48, 40))  # width × height: the shorter side counts
    assert dataset_native_size(small) == 40
    assert choose_input_size("lenet5", str(small)).size == 32  # never above the paper's size
    assert choose_input_size("vgg11", str(small)).size == 40
    assert choose_input_size("alexnet", str(small)).size == 63
    big = _folder(tmp_path / "big", (640, 480))
    choice = choose_input_size("vgg16", str(big))
    assert (choice.size, choice.source) == (224, "paper cap")
    assert dataset_native_size(tmp_path / "nothing-here") is None


def test_built_in_datasets_need_no_torch() -> None:
    code = ("import sys\nfrom cnnstudio.training.input_size import choose_input_size\n"
            "assert choose_input_size('vgg16', 'cifar10').size == 32\n"
            "assert 'torch' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_trainer_trains_at_the_datasets_size_when_none_is_given(run_dir: Path) -> None:
    from tests.helpers.training import make_bundle

    bundle = make_bundle(size=32, classes=4, per_class=4)
    config = tiny_config(arch="tricks", arch_options={}, input_size=None, epochs=1)
    trainer = Trainer(config, run_dir=run_dir, bundle=bundle)
    trainer.request_stop()  # set up, then stop before the first batch: the size is chosen by then
    assert trainer.fit().stopped_early
    assert trainer.config.input_size == 32  # the bundle's own size, not the paper's 224
    assert config_input_size(tiny_config(input_size=None, dataset="cifar10")).size == 32  # LeNet-5's design size
