"""The choice enums: one list per setting, plain strings on disk, the CLI's choices from them."""

from __future__ import annotations

import json

import pytest

from cnnstudio.choices import DeviceKind, Init, Optimizer, Schedule, parse_device
from cnnstudio.cli import build_parser
from cnnstudio.training.config import TrainConfig


def test_a_member_is_its_string_and_prints_as_it() -> None:
    assert Optimizer.SGD == "sgd" and f"{Schedule.PLATEAU}" == "plateau" and str(Init.NORMAL) == "normal"
    assert Schedule.PLATEAU.title == "÷10 on plateau"


def test_a_config_given_members_holds_plain_strings() -> None:
    config = TrainConfig(optimizer=Optimizer.ADAM, schedule=Schedule.COSINE, init=Init.XAVIER, device=DeviceKind.CPU)
    for name in ("optimizer", "schedule", "init", "device"):
        assert type(getattr(config, name)) is str, name
    assert json.loads(json.dumps(config.to_dict()))["schedule"] == "cosine"


@pytest.mark.parametrize(("flag", "enum"), [("--optimizer", Optimizer), ("--schedule", Schedule), ("--init", Init)])
def test_the_command_line_offers_exactly_the_enum(flag: str, enum: type) -> None:
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # argparse has no public lookup
    action = next(a for a in train._actions if flag in a.option_strings)
    assert tuple(action.choices) == enum.values()


def test_device_strings_parse_or_say_the_valid_forms() -> None:
    assert parse_device("cuda:1") == (DeviceKind.CUDA, 1) and parse_device("cpu") == (DeviceKind.CPU, None)
    for bad in ("cpu:0", "gpu", "", None, "cuda:x"):
        with pytest.raises(ValueError, match="device must be auto, cpu, cuda, cuda:N or mps"):
            parse_device(bad)
