"""torchvision's ImageNet weights in the studio's nets — without ever downloading.

Files are built here at the real shapes and saved under torchvision's own file names in a
temporary TORCH_HOME. GoogLeNet's file is small enough to hold random weights (52 MB); a
VGG file of real values would be 0.5 GB, so VGG files hold one number per tensor, expanded
to the full shape (torch saves the one-element storage): enough to see every tensor reach
the layer of its name, at the real shapes, in a few milliseconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from PIL import Image

from cnnstudio.cli import main as cli_main
from cnnstudio.data.download import download_file
from cnnstudio.errors import Cancelled, CheckpointError, DownloadError, UnknownNameError
from cnnstudio.inspect.classify import Predictor
from cnnstudio.models.pretrained import PRETRAINED, get_pretrained
from cnnstudio.training.weights.pretrained import cache_path, fetch_weights, load_pretrained, studio_state, weights_entry
from cnnstudio.models.registry import build_model


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "torch"


@pytest.fixture(scope="module")
def googlenet_reference() -> torch.nn.Module:
    torch.manual_seed(0)
    return tvm.GoogLeNet(aux_logits=True, init_weights=True, transform_input=True).eval()


def _save_googlenet(reference: torch.nn.Module) -> Path:
    path = cache_path("googlenet")
    torch.save(reference.state_dict(), path)
    return path


def _photo(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)).save(path)
    return path


def _constant_file(name: str, *, drop_counters: bool = False, wrong: str | None = None) -> dict[str, float]:
    """torchvision's state dict of `name` at its real shapes, tensor i holding only the number i."""
    with torch.device("meta"):
        reference = tvm.get_model(name)
    values, state = {}, {}
    for i, (key, tensor) in enumerate(reference.state_dict().items()):
        if drop_counters and key.endswith("num_batches_tracked"):
            continue  # files saved before PyTorch 0.4.1 have no BatchNorm counters
        shape = (1, *tensor.shape[1:]) if key == wrong else tensor.shape
        state[key] = torch.full((1,), float(i), dtype=tensor.dtype).expand(shape)
        values[key] = float(i)
    torch.save(state, cache_path(name))
    return values


@pytest.mark.parametrize("info", PRETRAINED, ids=lambda info: info.name)
def test_torchvision_names_map_onto_the_studio_net_at_the_real_shapes(info):
    with torch.device("meta"):
        theirs = tvm.get_model(info.name, **({"aux_logits": True, "init_weights": False}
                                             if info.name == "googlenet" else {}))
        ours = build_model(info.arch, **info.options)
    mapped = studio_state(info, theirs.state_dict(), aux_logits=True)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in ours.state_dict().items()}


@pytest.mark.slow
def test_googlenet_weights_load_from_the_hub_cache_and_answer_as_torchvisions(torch_home, googlenet_reference):
    path = _save_googlenet(googlenet_reference)
    assert path == torch_home / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    pretrained = load_pretrained("googlenet")
    assert pretrained.source == str(path) and pretrained.arch == "googlenet-torchvision"
    entry = weights_entry("googlenet")
    assert pretrained.categories == tuple(entry.meta["categories"]) and len(pretrained.categories) == 1000
    assert pretrained.categories[207] == "golden retriever"
    assert pretrained.spec.mean == pytest.approx((0.485, 0.456, 0.406))
    assert (pretrained.input_size, pretrained.resize_size) == (224, 256)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(pretrained.model(x), googlenet_reference(x))


@pytest.mark.slow
def test_a_photo_is_seen_as_torchvisions_transform_sees_it(torch_home, googlenet_reference, tmp_path):
    _save_googlenet(googlenet_reference)
    photo = _photo(tmp_path / "photo.png")
    [prediction] = Predictor.from_pretrained(load_pretrained("googlenet")).predict_files([photo])
    image = torch.from_numpy(np.array(Image.open(photo))).permute(2, 0, 1)
    with torch.no_grad():
        probs = torch.softmax(googlenet_reference(weights_entry("googlenet").transforms()(image)[None]), 1)[0]
    top = torch.topk(probs, 5)
    categories = weights_entry("googlenet").meta["categories"]
    assert [name for name, _ in prediction.topk] == [categories[i] for i in top.indices.tolist()]
    assert [p for _, p in prediction.topk] == pytest.approx(top.values.tolist(), abs=1e-6)


@pytest.mark.slow
def test_vgg_weights_reach_the_layers_of_their_names_at_the_real_shapes(torch_home):
    values = _constant_file("vgg11")
    model = load_pretrained("vgg11").model
    own = model.state_dict()
    assert set(own) == set(values)
    assert own["classifier.0.weight"].shape == (4096, 512 * 7 * 7)
    for key, value in values.items():
        assert float(own[key].flatten()[0]) == value


@pytest.mark.slow
def test_an_old_bn_file_without_batchnorm_counters_still_loads(torch_home):
    values = _constant_file("vgg11_bn", drop_counters=True)
    state = load_pretrained("vgg11_bn").model.state_dict()
    assert float(state["features.1.running_var"].flatten()[0]) == values["features.1.running_var"]
    assert int(state["features.1.num_batches_tracked"]) == 0


def test_a_file_of_another_net_names_what_does_not_fit(torch_home, googlenet_reference, tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save(googlenet_reference.state_dict(), wrong)
    with pytest.raises(CheckpointError) as err:
        load_pretrained("vgg16", weights=wrong)
    message = str(err.value)
    assert "does not fit vgg16" in message and "'features.0.weight'" in message and "\n" not in message


def test_a_wrong_shape_names_the_layer_and_both_shapes(torch_home):
    _constant_file("vgg11", wrong="classifier.6.weight")
    with pytest.raises(CheckpointError, match=r"classifier\.6\.weight is \(1, 4096\) there, \(1000, 4096\) here"):
        load_pretrained("vgg11")


def test_a_truncated_file_is_refused_in_one_line(torch_home, googlenet_reference):
    path = _save_googlenet(googlenet_reference)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_pretrained("googlenet")
    assert "truncated" in str(err.value) and "download it again" in str(err.value) and "\n" not in str(err.value)


def test_a_download_whose_hash_does_not_match_its_name_is_refused_and_not_kept(torch_home, tmp_path):
    impostor = tmp_path / "impostor.pth"
    torch.save({"w": torch.zeros(3)}, impostor)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_weights("googlenet", url=impostor.as_uri())
    folder = cache_path("googlenet").parent
    assert list(folder.iterdir()) == []  # neither the file nor a .part


def test_download_checks_the_sha256_prefix_reports_progress_and_cancels(tmp_path):
    source = tmp_path / "weights.pth"
    source.write_bytes(b"x" * 200_000)
    prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    seen: list[tuple[int, int]] = []
    dest = download_file(source.as_uri(), tmp_path / "cache" / f"w-{prefix}.pth", md5=None, sha256_prefix=prefix,
                         progress=lambda done, total, _message: seen.append((done, total)))
    assert dest.read_bytes() == source.read_bytes() and seen[-1][0] == 200_000
    with pytest.raises(Cancelled):
        download_file(source.as_uri(), tmp_path / "cache" / "again.pth", md5=None, cancel=lambda: True)
    assert not (tmp_path / "cache" / "again.pth").exists()


def test_offline_without_the_file_says_where_to_put_it(torch_home):
    with pytest.raises(DownloadError, match="vgg16-397923af.pth|--weights"):
        fetch_weights("vgg16", download=False)
    with pytest.raises(UnknownNameError, match="did you mean vgg16"):
        get_pretrained("vgg-16")


@pytest.mark.slow
def test_classify_pretrained_on_the_command_line(torch_home, googlenet_reference, tmp_path, capsys):
    _save_googlenet(googlenet_reference)
    photo = _photo(tmp_path / "photo.jpg")
    assert cli_main(["classify", "--pretrained", "googlenet", str(photo), "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(photo) and len(lines) == 4
    wrong = tmp_path / "wrong.pth"
    torch.save(googlenet_reference.state_dict(), wrong)
    assert cli_main(["classify", "--pretrained", "vgg16", "--weights", str(wrong), str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit vgg16" in err[0]
