"""VGG's trick, end to end: a deeper VGG starts from a trained configuration-A run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnstudio.training.store import runs
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config


@pytest.mark.slow
def test_vgg16_starts_from_a_config_a_run(tmp_path: Path) -> None:
    bundle = make_bundle(classes=4, per_class=4, size=32, channels=3)
    # A learning rate this small leaves every weight where initialisation put it.
    still = dict(arch_options={}, input_size=32, epochs=1, batch_size=16, lr=1e-12, momentum=0.0)
    a_run = Trainer(tiny_config(arch="vgg11", **still), run_dir=tmp_path / "a", bundle=bundle).fit()
    d_trainer = Trainer(tiny_config(arch="vgg16", init_from_run=str(a_run.run_dir), **still),
                        run_dir=tmp_path / "d", bundle=bundle)
    d_trainer.fit()

    a_model, _, _ = runs.load_model(a_run.run_dir, which="last")
    a, d = a_model.state_dict(), d_trainer.model.state_dict()
    # A's convs sit at features.0, 3, 6, 8 (stage 1, 2, 3a, 3b); D's at features.0, 5, 10, 12.
    for a_key, d_key in (("features.0", "features.0"), ("features.3", "features.5"), ("features.6", "features.10"),
                         ("features.8", "features.12"), ("classifier.0", "classifier.0"),
                         ("classifier.6", "classifier.6")):
        assert torch.allclose(a[f"{a_key}.weight"], d[f"{d_key}.weight"], atol=1e-6), d_key
    # The convs A does not have (features.2: stage 1's second) are D's own random init.
    assert d["features.2.weight"].std() > 0
    assert not any(v.shape == d["features.2.weight"].shape and torch.equal(v, d["features.2.weight"])
                   for v in a.values())
    assert runs.open_run(d_trainer.run_dir).config.init_from_run == str(a_run.run_dir)
