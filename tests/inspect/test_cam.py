"""Grad-CAM, Grad-CAM++ and guided backprop against independent computations, on every architecture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.errors import UnknownNameError
from cnnstudio.inspect.cam import CAM_METHODS, Explainer, guided_image, overlay
from cnnstudio.models.catalog import list_models
from cnnstudio.models.registry import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


class SmallNet(nn.Module):
    """conv → ReLU module (in place or not) → conv → functional relu → Tensor.relu → pool → linear."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=inplace), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3, padding=1))
        self.head = nn.Conv2d(6, 6, 1)
        self.classifier = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        x = self.head(x).relu()
        x = F.avg_pool2d(x, 2)
        return self.classifier(torch.flatten(x, 1))


def _net(inplace: bool = False) -> SmallNet:
    torch.manual_seed(0)
    return SmallNet(inplace).eval()


def _independent_cam(net: nn.Module, x: torch.Tensor, layer: nn.Module, target: int, *, plus: bool) -> torch.Tensor:
    """The map by the paper's formula with torch.autograd.grad: no cnnstudio code involved."""
    kept = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: kept.setdefault("a", out))
    try:
        score = net(x[None].requires_grad_(True))[0, target]
    finally:
        handle.remove()
    a = kept["a"]
    (g,) = torch.autograd.grad(score, a)
    a, g = a[0].detach(), g[0]
    if plus:
        alpha = g**2 / (2 * g**2 + a.sum(dim=(1, 2), keepdim=True) * g**3 + 1e-7)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        w = (alpha * g.clamp(min=0)).sum(dim=(1, 2))
    else:
        w = g.mean(dim=(1, 2))
    cam = torch.relu((w[:, None, None] * a).sum(0))
    up = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return up / up.max() if up.max() > 0 else up


@pytest.mark.parametrize("plus", [False, True])
@pytest.mark.parametrize("target", [0, 2])
def test_grad_cam_matches_an_independent_autograd_computation(plus: bool, target: int) -> None:
    net = _net()
    x = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(1))
    result = Explainer(net, input_size=8, in_channels=1).explain(
        x, method="gradcam++" if plus else "gradcam", layer="features.3", target=target)
    expected = _independent_cam(net, x, net.features[3], target, plus=plus)
    assert result.heatmap.shape == (8, 8) and result.heatmap.dtype == np.float32
    assert float(result.heatmap.max()) == pytest.approx(1.0)
    assert np.allclose(result.heatmap, expected.numpy(), atol=1e-5)
    assert result.layer_map.shape == (4, 4)


def _guided_reference(net: SmallNet, x: torch.Tensor, target: int) -> torch.Tensor:
    """Guided backprop written out by hand: each ReLU replaced by a function that passes back
    only positive gradients where its input was positive."""

    class Guided(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            (t,) = ctx.saved_tensors
            return grad.clamp(min=0) * (t > 0).to(grad.dtype)

    f = net.features
    inp = x[None].clone().requires_grad_(True)
    h = Guided.apply(f[0](inp))
    h = Guided.apply(f[3](f[2](h)))
    h = Guided.apply(net.head(h))
    out = net.classifier(torch.flatten(F.avg_pool2d(h, 2), 1))
    (g,) = torch.autograd.grad(out[0, target], inp)
    return g[0]


@pytest.mark.parametrize("inplace", [False, True])
def test_guided_backprop_guides_relu_modules_in_place_or_not_and_functional_relu(inplace: bool) -> None:
    net = _net(inplace)
    x = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(2))
    result = Explainer(net, input_size=8, in_channels=1).explain(x, method="guided-backprop", target=1)
    expected = _guided_reference(_net(False), x, 1)
    assert np.allclose(result.guided, expected.numpy(), atol=1e-6)
    assert (result.guided != 0).any()


def test_in_place_relu_after_the_layer_leaves_the_map_as_without_it() -> None:
    x = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(3))
    maps = [Explainer(_net(inplace), input_size=8, in_channels=1).explain(x, layer="features.0", target=0).heatmap
            for inplace in (False, True)]
    assert np.allclose(maps[0], maps[1], atol=1e-6)


def test_guided_grad_cam_is_guided_backprop_times_the_cam() -> None:
    net = _net()
    x = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(4))
    explainer = Explainer(net, input_size=8, in_channels=1)
    cam = explainer.explain(x, layer="features.3", target=0)
    guided = explainer.explain(x, method="guided-backprop", target=0)
    both = explainer.explain(x, method="guided-gradcam", layer="features.3", target=0)
    assert np.allclose(both.guided, guided.guided * cam.heatmap[None], atol=1e-6)


def test_explaining_never_changes_the_callers_model() -> None:
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    grads_before = [p.requires_grad for p in net.parameters()]
    explainer = Explainer(net, input_size=8, in_channels=1)
    for method in CAM_METHODS:
        explainer.explain(torch.randn(1, 8, 8), method=method)
    assert net.training
    assert [p.requires_grad for p in net.parameters()] == grads_before
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    for module in [*net.modules(), *explainer.model.modules()]:
        assert not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks


def test_unknown_layers_and_classes_are_refused_listing_the_valid_ones() -> None:
    explainer = Explainer(_net(), input_size=8, in_channels=1, classes=("cat", "dog", "fox"))
    with pytest.raises(UnknownNameError, match=r"features\.0 \(\d+ channels\), features\.3 \(\d+ channels\), head"):
        explainer.explain(torch.randn(1, 8, 8), layer="conv9")
    with pytest.raises(UnknownNameError, match="cat, dog, fox"):
        explainer.explain(torch.randn(1, 8, 8), target="zebra")
    result = explainer.explain(torch.randn(1, 8, 8), target="dog")
    assert (result.target, result.target_name) == (1, "dog")


def test_lenet_default_layer_is_c3_because_c5_is_fully_connected_here() -> None:
    net = build_model("lenet5", in_channels=1, num_classes=10)
    explainer = Explainer(net, input_size=32, in_channels=1)
    assert [(l.name, l.shape[1:]) for l in explainer.layers()] == [("features.c1", (28, 28)), ("features.c3", (10, 10))]
    assert explainer.default_layer() == "features.c3"


def _cheap_model(name: str, **options: object) -> nn.Module:
    """A registry model with quick non-trivial weights (VGG's default init alone takes seconds here)."""
    with torch.device("meta"):
        model = build_model(name, in_channels=3, num_classes=4, **options)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() > 1 and p.numel() > 1_000_000:
                # Rank one (rows × columns): one pass over VGG's 100 M-weight FC layers.
                rows = torch.randn(p.shape[0], 1, generator=generator)
                cols = torch.randn(1, p[0].numel(), generator=generator) / math.sqrt(p[0].numel())
                torch.mul(rows, cols, out=p.view(p.shape[0], -1))
            elif p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p[0].numel()))
            elif pname.endswith("weight"):
                p.fill_(1.0)  # BatchNorm scale
            else:
                p.zero_()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()
    return model


VARIANTS = [(info.name, {}) for info in list_models()] + [
    ("googlenet", {"aux_logits": False}),
    ("googlenet", {"batch_norm": True}),
    ("vgg11", {"batch_norm": True}),
    ("tricks", {"batch_norm": True, "multiscale": True}),
]


@pytest.mark.parametrize("name,options", VARIANTS, ids=[f"{n}{'-' + '-'.join(o) if o else ''}" for n, o in VARIANTS])
@pytest.mark.slow
def test_every_architecture_gives_each_map_and_grad_cam_agrees_with_autograd(name: str, options: dict) -> None:
    model = _cheap_model(name, **options)
    size = max(32, model.min_size)
    x = torch.randn(3, size, size, generator=torch.Generator().manual_seed(0))
    explainer = Explainer(model, input_size=size, in_channels=3, copy_weights=False)  # copying: tested above
    layer = explainer.default_layer()
    shape = next(l.shape for l in explainer.layers() if l.name == layer)
    assert shape[1] * shape[2] > 1
    if name == "googlenet":
        assert layer.startswith("features.inception")  # a block, not one of its branch convs
    for method in CAM_METHODS:
        result = explainer.explain(x, method=method)
        assert result.heatmap.shape == (size, size)
        assert np.isfinite(result.heatmap).all() and 0 <= result.heatmap.min() and result.heatmap.max() <= 1
    modules = dict(explainer.model.named_modules())
    expected = _independent_cam(explainer.model, x, modules[layer], result.target, plus=False)
    assert np.allclose(explainer.explain(x, layer=layer, target=result.target).heatmap, expected.numpy(), atol=1e-4)


def test_overlay_and_guided_pictures_are_enlarged_rgb() -> None:
    seen = torch.randint(0, 255, (1, 32, 32), dtype=torch.uint8)
    heat = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    picture = overlay(seen, heat)
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8
    assert picture[-1, -1, 0] > picture[-1, -1, 2]  # hot corner is red, cold corner blue
    assert picture[0, 0, 2] > picture[0, 0, 0]
    assert guided_image(np.random.randn(3, 32, 32).astype(np.float32)).shape == (224, 224, 3)
