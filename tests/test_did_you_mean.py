"""One rule for suggesting a name: the architectures, the pretrained weights and a sweep's settings."""

from __future__ import annotations

import pytest

from cnnstudio.errors import UnknownNameError, did_you_mean
from cnnstudio.models.catalog import get_info
from cnnstudio.models.pretrained import get_pretrained


def test_close_names_are_offered():
    assert did_you_mean("vgg17", ["lenet5", "vgg16"]) == " (did you mean vgg16?)"
    assert did_you_mean("resnet", ["alexnet", "vgg16"]) == ""


def test_pretrained_weights_use_the_same_cutoff_as_architectures():
    # difflib's default 0.6 had offered alexnet for "resnet" here, and nothing in the catalog.
    with pytest.raises(UnknownNameError) as pretrained:
        get_pretrained("resnet")
    assert "did you mean" not in str(pretrained.value)
    with pytest.raises(UnknownNameError, match=r"did you mean googlenet\?"):
        get_pretrained("googlnet")
    with pytest.raises(UnknownNameError, match=r"did you mean googlenet\?"):
        get_info("googlnet")
