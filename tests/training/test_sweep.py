"""Sweep expansion (issue 13, part 3): switches, grids, the tricks study, and refusals in words."""

from __future__ import annotations

import pytest

from cnnstudio.errors import CnnStudioError, UnknownNameError
from cnnstudio.training.config import default_config
from cnnstudio.training.experiments.sweep import STUDY_SWITCHES, study_base, sweep_configs, tricks_study


def test_switches_give_the_baseline_then_one_run_each_and_all_on() -> None:
    base = default_config("tricks").replace(dataset="mnist-sample", epochs=2)
    runs = sweep_configs(base, ["batch_norm,leaky_relu", "gap,dropout=0.3"], all_on=True)
    assert [r.label for r in runs] == ["baseline", "batch_norm", "leaky_relu", "gap", "dropout=0.3", "all on"]
    assert runs[0].config == base
    assert [r.config.arch_options for r in runs[1:5]] == [
        {"batch_norm": True}, {"activation": "leaky_relu"}, {"gap": True}, {"dropout": 0.3}]
    assert runs[-1].config.arch_options == {"batch_norm": True, "activation": "leaky_relu", "gap": True, "dropout": 0.3}
    assert all(r.config.epochs == 2 and r.config.dataset == "mnist-sample" for r in runs)


def test_a_bare_yes_no_name_flips_the_bases_value() -> None:
    base = default_config("googlenet")  # aux_logits is on by default
    labels = {r.label: r.config for r in sweep_configs(base, ["aux_logits,nesterov"])}
    assert labels["aux_logits=off"].arch_options == {"aux_logits": False}
    assert labels["nesterov"].nesterov is True


def test_grids_multiply_and_values_take_the_fields_type() -> None:
    runs = sweep_configs(default_config("lenet5"), ["lr=0.1,0.01", "batch_size=32,64", "augment=none,flip+crop"])
    assert len(runs) == 8
    assert runs[0].label == "lr=0.1, batch_size=32, augment=none"
    assert {(r.config.lr, r.config.batch_size, r.config.augment) for r in runs} == {
        (lr, bs, aug) for lr in (0.1, 0.01) for bs in (32, 64) for aug in ((), ("flip", "crop"))}
    assert isinstance(runs[0].config.batch_size, int) and isinstance(runs[0].config.lr, float)


def test_switches_at_each_grid_point() -> None:
    runs = sweep_configs(default_config("lenet5"), ["activation=relu", "lr=0.1,0.01"])
    assert [r.label for r in runs] == ["activation=relu, lr=0.1", "activation=relu, lr=0.01"]
    runs = sweep_configs(default_config("lenet5"), ["relu", "lr=0.1,0.01"])
    assert [r.label for r in runs] == ["baseline, lr=0.1", "baseline, lr=0.01", "relu, lr=0.1", "relu, lr=0.01"]
    assert runs[2].config.arch_options == {"activation": "relu"}


def test_the_tricks_study_is_the_notes_eight_runs() -> None:
    base = default_config("lenet5").replace(dataset="cifar10", epochs=3, batch_size=32, device="cpu")
    study = tricks_study(base)
    assert [r.label for r in study] == ["plain", "baseline", "leaky_relu", "gap", "dropout=0.5", "small_kernels",
                                        "multiscale", "all_tricks"]
    options = [r.config.arch_options for r in study]
    assert options[0] == {} and options[1] == {"batch_norm": True}
    assert options[2:7] == [{"batch_norm": True, "activation": "leaky_relu"}, {"batch_norm": True, "gap": True},
                            {"batch_norm": True, "dropout": 0.5}, {"batch_norm": True, "small_kernels": True},
                            {"batch_norm": True, "multiscale": True}]
    assert options[7] == {"all_tricks": True}
    # The chosen dataset, budget and device; the tricks CNN's own recipe for the rest (not LeNet's LR).
    for run in study:
        assert (run.config.arch, run.config.dataset, run.config.epochs, run.config.device) == ("tricks", "cifar10", 3, "cpu")
        assert run.config.lr == default_config("tricks").lr
    assert len(STUDY_SWITCHES) == 5
    on_tricks = study_base(default_config("tricks").replace(arch_options={"gap": True}, lr=0.05))
    assert on_tricks.arch_options == {} and on_tricks.lr == 0.05  # the form's own settings, options reset


@pytest.mark.parametrize(
    ("vary", "all_on", "error", "words"),
    [
        (["lrr=0.1,0.2"], False, UnknownNameError, ("'lrr'", "did you mean lr?", "batch_norm", "weight_decay")),
        (["batch_nrom"], False, UnknownNameError, ("'batch_nrom'", "did you mean batch_norm?")),
        (["lr=0.1,-1"], False, CnnStudioError, ("lr must be a number > 0 and ≤ 1e+30; got -1",)),
        (["epochs=two"], False, CnnStudioError, ("epochs must be a whole number", "'two'")),
        (["activation=tanh,gap"], False, CnnStudioError, ("activation", "'gap'")),
        (["dropout"], False, CnnStudioError, ("dropout is not a yes/no switch", "dropout=0.5")),
        (["batch_norm,batch_norm=false"], False, CnnStudioError, ("batch_norm is switched twice",)),
        (["lr=0.1", "lr=0.2"], False, CnnStudioError, ("lr is varied twice",)),
        (["lr=0.1,0.01"], True, CnnStudioError, ("--all-on",)),
        ([","], False, CnnStudioError, ("names nothing",)),
        ([], False, CnnStudioError, ("needs something to vary",)),
    ],
)
def test_bad_sweeps_are_refused_in_words(vary, all_on, error, words) -> None:
    with pytest.raises(error) as caught:
        sweep_configs(default_config("tricks"), vary, all_on=all_on)
    for word in words:
        assert word in str(caught.value)
