"""The architecture catalog: torch-free, complete, and helpful about wrong names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from cnnstudio.errors import UnknownNameError
from cnnstudio.models import catalog
from cnnstudio.models.catalog import ArchInfo, get_info, list_models

REGISTRY_NAMES = ["lenet5", "alexnet", "alexnet-2gpu", "alexnet-torchvision", "vgg11", "vgg11-lrn", "vgg13",
                  "vgg16-1x1", "vgg16", "vgg19", "googlenet", "googlenet-torchvision", "tricks"]


def test_importing_the_catalog_does_not_import_torch():
    code = (
        "import sys\n"
        "import cnnstudio.models.catalog as c\n"
        "import cnnstudio.models\n"
        "assert len(c.list_models()) == 13\n"
        "assert 'torch' not in sys.modules, 'catalog imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_registry_names_are_exactly_the_documented_ones_in_teaching_order():
    assert [info.name for info in list_models()] == REGISTRY_NAMES
    assert catalog.model_names() == REGISTRY_NAMES


@pytest.mark.parametrize("name", REGISTRY_NAMES)
def test_every_entry_has_usable_metadata_and_a_resolvable_builder(name):
    info = get_info(name)
    assert info.name == name
    assert info.paper and info.description and info.title
    assert 1998 <= info.year <= 2020
    assert 1 <= info.min_size <= info.default_size
    module_name, _, function_name = info.builder.partition(":")
    assert callable(getattr(importlib.import_module(module_name), function_name))
    for spec in info.options:
        if spec.kind == "bool":
            assert isinstance(spec.default, bool)
        elif spec.kind == "choice":
            assert spec.default in spec.choices
        else:
            assert spec.kind == "float" and spec.minimum <= spec.default <= spec.maximum


def test_paper_facts_in_the_metadata():
    depths = {info.name: info.depth for info in list_models()}
    assert depths == {"lenet5": 5, "alexnet": 8, "alexnet-2gpu": 8, "alexnet-torchvision": 8, "vgg11": 11,
                      "vgg11-lrn": 11, "vgg13": 13, "vgg16-1x1": 16, "vgg16": 16, "vgg19": 19, "googlenet": 22,
                      "googlenet-torchvision": 22, "tricks": 8}
    assert get_info("lenet5").default_size == 32
    assert {get_info(n).default_size for n in REGISTRY_NAMES if n != "lenet5"} == {224}
    assert get_info("googlenet").option("aux_logits").default is True


def test_unknown_name_lists_the_valid_names_and_suggests_the_closest():
    with pytest.raises(UnknownNameError) as err:
        get_info("vgg-16")
    message = str(err.value)
    assert "vgg-16" in message and "did you mean vgg16" in message
    assert all(name in message for name in REGISTRY_NAMES)
    assert "\n" not in message


def test_unknown_option_names_the_valid_options():
    with pytest.raises(UnknownNameError, match="vgg16 has no option 'batchnorm'; valid options: batch_norm, dropout"):
        get_info("vgg16").option("batchnorm")


def test_a_name_listed_twice_is_refused():
    entry = get_info("lenet5")
    with pytest.raises(RuntimeError, match="'lenet5' is listed twice"):
        catalog._index((entry, get_info("alexnet"), entry))


def test_torchvisions_variants_are_labelled_as_such_never_as_the_papers():
    for name in ("alexnet-torchvision", "googlenet-torchvision"):
        info = get_info(name)
        assert "torchvision's variant (not the paper's)" in info.title and "torchvision" in info.description
    assert "One weird trick" in get_info("alexnet-torchvision").paper


def test_entries_are_frozen_plain_values():
    info = get_info("vgg16")
    assert isinstance(info, ArchInfo)
    with pytest.raises(AttributeError):
        info.min_size = 1  # type: ignore[misc]
    assert hash(info) == hash(get_info("vgg16"))


@pytest.mark.parametrize("name", REGISTRY_NAMES)
def test_citations_name_each_year_once(name):
    import re

    info = get_info(name)
    for text in (f"{info.paper}, {info.year}", info.citation):  # how the app and the CLI write them
        assert not re.search(r"\d{4}, \d{4}", text), text
        assert text.count(str(info.year)) == 1, text
    assert get_info("vgg16").citation.endswith("ICLR 2015 (arXiv 2014)")
    assert get_info("googlenet").citation.endswith("CVPR 2015 (arXiv 2014)")


def test_option_labels_live_in_the_catalog():
    assert get_info("alexnet").option("lrn").label == "LRN"
    assert get_info("tricks").option("gap").label == "Global average pooling"
    assert get_info("vgg16").option("batch_norm").label == "BatchNorm"
    assert get_info("tricks").option("dropout").label == "Dropout"  # the default: the name in words
    for info in list_models():
        assert all(spec.label and spec.label[0].isupper() for spec in info.options)


def test_only_close_names_are_suggested():
    with pytest.raises(UnknownNameError) as wrong:
        get_info("resnet50")
    assert "did you mean" not in str(wrong.value)
    with pytest.raises(UnknownNameError, match="did you mean googlenet"):
        get_info("googlnet")
    with pytest.raises(UnknownNameError, match="did you mean vgg16"):
        get_info("vgg-16")
