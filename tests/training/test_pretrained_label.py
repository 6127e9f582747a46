"""Only a file whose checksum matches is called torchvision's weights; the window's offline
message names the window's way to give a file (issue 22, item 13)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.models as tvm

from cnnstudio.data.download import file_sha256
from cnnstudio.errors import DownloadError
from cnnstudio.training.weights import pretrained
from cnnstudio.training.weights.pretrained import fetch_weights, is_torchvision_file, load_pretrained


@pytest.fixture
def random_googlenet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    path = tmp_path / "googlenet-1378be20.pth"  # torchvision's file name, random weights
    torch.save(tvm.GoogLeNet(aux_logits=True, init_weights=True, transform_input=True).state_dict(), path)
    return path


def test_a_file_merely_named_like_torchvisions_is_not_called_torchvisions(random_googlenet: Path) -> None:
    model = load_pretrained("googlenet", weights=random_googlenet)
    assert not model.verified
    assert model.described == ("googlenet weights from googlenet-1378be20.pth (not torchvision's published file: "
                               "its sha256 differs)")


def test_a_file_whose_sha256_matches_is_torchvisions(random_googlenet: Path, monkeypatch) -> None:
    digest = file_sha256(random_googlenet)
    real = pretrained.cache_path
    monkeypatch.setattr(pretrained, "cache_path", lambda info: real(info).with_name(f"googlenet-{digest[:8]}.pth"))
    assert is_torchvision_file("googlenet", random_googlenet)
    model = load_pretrained("googlenet", weights=random_googlenet)
    assert model.verified and model.described == "torchvision's ImageNet weights (GoogLeNet_Weights.IMAGENET1K_V1)"


def test_the_offline_message_names_the_faces_own_way_to_give_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DownloadError, match="or pass the file with --weights$"):
        fetch_weights("vgg11", download=False)
    with pytest.raises(DownloadError) as caught:
        fetch_weights("vgg11", download=False, give_file="open it with File ▸ X")
    assert "--weights" not in str(caught.value) and str(caught.value).endswith("or open it with File ▸ X")


def test_the_window_asks_for_its_own_wording(monkeypatch) -> None:
    from cnnstudio.gui.state import ModelHandle

    asked = {}

    def fake(name, **kwargs):
        asked.update(kwargs)
        raise DownloadError("offline")

    monkeypatch.setattr(pretrained, "load_pretrained", fake)
    with pytest.raises(DownloadError):
        ModelHandle.from_pretrained("vgg11")
    assert "--weights" not in asked["give_file"] and "File ▸" in asked["give_file"]
