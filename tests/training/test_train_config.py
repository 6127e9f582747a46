"""TrainConfig: JSON round trip, unknown keys, and a clear message for every bad setting."""

from __future__ import annotations

import json

import pytest

from cnnstudio.errors import CnnStudioError, InputTooSmallError, UnknownNameError
from cnnstudio.models.catalog import model_names
from cnnstudio.training.config import TrainConfig, paper_defaults


def test_json_round_trip_is_exact() -> None:
    config = TrainConfig(arch="vgg16", arch_options={"batch_norm": True}, augment=("crop", "flip"), input_size=32,
                         lr=0.005, schedule="plateau", num_threads=2)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.augment == ("crop", "flip")


def test_missing_keys_take_defaults() -> None:
    assert TrainConfig.from_dict({"arch": "alexnet"}) == TrainConfig(arch="alexnet")


def test_unknown_keys_are_named() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown training setting 'learning_rate'; valid settings: .*lr"):
        TrainConfig.from_dict({"learning_rate": 0.1})


@pytest.mark.parametrize(("changes", "message"), [
    ({"epochs": 0}, "epochs must be a whole number from 1 to 1,000,000; got 0"),
    ({"epochs": 2.5}, "epochs must be a whole number from 1 to 1,000,000; got 2.5"),
    ({"batch_size": 0}, "batch_size must be a whole number from 1 to 65,536"),
    ({"lr": 0.0}, "lr must be a number > 0 and ≤ 1e\\+30; got 0.0"),
    ({"lr": float("nan")}, "lr must be a number > 0"),
    ({"momentum": 1.0}, r"momentum must be a number ≥ 0 and < 1"),
    ({"weight_decay": -1e-4}, "weight_decay must be a number ≥ 0"),
    ({"gamma": 0.0}, r"gamma must be a number > 0 and ≤ 1"),
    ({"val_fraction": 1.0}, r"val_fraction must be a number > 0 and < 1"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose from: sgd, adam, adamw"),
    ({"schedule": "onecycle"}, "unknown schedule 'onecycle'; choose from: constant, step, cosine, plateau"),
    ({"init": "orthogonal"}, "unknown init 'orthogonal'; choose from: default, normal, kaiming, xavier"),
    ({"augment": ("cutmix",)}, "unknown augmentation 'cutmix'"),
    ({"device": "gpu"}, "device must be auto, cpu, cuda, cuda:N or mps; got 'gpu'"),
    ({"arch": "resnet50"}, "unknown architecture 'resnet50'"),
    ({"arch_options": {"depth": 3}}, "lenet5 has no option 'depth'"),
    ({"arch_options": {"pool": "median"}}, "lenet5 option pool must be one of: avg, max"),
    ({"nesterov": True, "optimizer": "adam"}, "nesterov needs the sgd optimizer"),
    ({"amp": "yes"}, "amp must be true or false"),
    ({"num_threads": 0}, "num_threads must be a whole number from 1 to 4,096"),
    ({"init_from_run": "/some/run"}, "init_from_run is VGG's trick .* lenet5 is not a VGG"),
])
def test_bad_settings_get_a_clear_message(changes: dict, message: str) -> None:
    with pytest.raises(CnnStudioError, match=message):
        TrainConfig(**changes).validate()


def test_a_too_small_input_names_the_minimum() -> None:
    with pytest.raises(InputTooSmallError, match="vgg16 needs inputs of at least 32×32 pixels; got 16×16"):
        TrainConfig(arch="vgg16", input_size=16).validate()


def test_defaults_are_valid_and_follow_the_papers() -> None:
    config = TrainConfig().validate()
    assert (config.optimizer, config.momentum, config.weight_decay, config.lr, config.batch_size) == ("sgd", 0.9, 5e-4, 0.01, 128)
    assert config.amp and config.aux_weight == 0.3 and not config.compile


@pytest.mark.parametrize("arch", model_names())
def test_paper_defaults_are_valid_for_every_architecture(arch: str) -> None:
    config = paper_defaults(arch).validate()
    assert config.arch == arch and config.optimizer == "sgd" and config.momentum == 0.9 and config.lr == 0.01


def test_vgg_paper_recipe() -> None:
    vgg = paper_defaults("vgg16")
    assert (vgg.batch_size, vgg.weight_decay, vgg.schedule, vgg.gamma, vgg.max_lr_drops, vgg.init) == (
        256, 5e-4, "plateau", 0.1, 3, "normal")
    assert paper_defaults("googlenet").schedule == "step" and paper_defaults("googlenet").gamma == 0.96


def test_the_run_folder_schema_knows_every_setting() -> None:
    # config.json is read back through this schema: a setting it lacks makes every new run unreadable.
    import dataclasses

    from cnnstudio.training.fields import _config_rules

    assert set(_config_rules()) == {f.name for f in dataclasses.fields(TrainConfig)}
