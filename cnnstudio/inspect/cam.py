"""Why the network said what it said: Grad-CAM, Grad-CAM++, guided backprop and guided Grad-CAM.

`Explainer(trained)` works on its own eval-mode copy of the weights (the caller's model, which
may be the one a trainer is stepping, is never switched to eval, hooked or changed), with
gradients off for every parameter: only the activations' gradients are computed.

- Grad-CAM (Selvaraju et al.): for a layer's output A (K maps) and a class score y_c,
  map = ReLU(Σ_k w_k·A_k) with w_k the spatial mean of ∂y_c/∂A_k, upsampled bilinearly to the
  input and scaled to [0, 1].
- Grad-CAM++ (Chattopadhyay et al.): w_k = Σ_ij α_ij·ReLU(∂y_c/∂A_ij) with
  α = g² / (2g² + Σ_ij A_ij · g³), g = ∂y_c/∂A (the closed form for an exponential score).
- Guided backprop (Springenberg et al.): the input gradient with every ReLU passing back only
  positive gradients where its input was positive. Activations are caught where they are
  *called*, through a `TorchFunctionMode`, so `nn.ReLU` (in-place or not) and a functional
  `F.relu` / `Tensor.relu` are all guided; tanh, sigmoid and leaky ReLU (LeNet-5's and the
  tricks net's) get the same backward rectification times their own derivative.
- Guided Grad-CAM: guided backprop × the Grad-CAM map.

The layer's output is caught by a forward hook that keeps it and registers a *tensor* hook
for its gradient (full-module backward hooks break on in-place ReLUs); the hook hands the
rest of the network a copy, so an in-place activation after the layer cannot overwrite what
was kept. Every hook is removed in `finally`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnstudio.errors import CnnStudioError, UnknownNameError
from cnnstudio.inspect.inputs import TrainedModel

__all__ = ["CAM_METHODS", "CamLayer", "Explainer", "Explanation", "cam_layers", "guided_image", "heat_colours",
           "overlay", "resolve_layer"]

CAM_METHODS = ("gradcam", "gradcam++", "guided-backprop", "guided-gradcam")
_EPS = 1e-7


@dataclass(frozen=True)
class CamLayer:
    """A layer Grad-CAM can look at: its qualified name, kind ("conv" or "block") and output C×H×W."""

    name: str
    kind: str
    shape: tuple[int, int, int]


def resolve_layer(layers: Sequence[CamLayer], name: str, *, owner: str) -> CamLayer:
    """The layer `name` names among `layers`: its full name ("features.c3"), or the last part of
    exactly one name ("c3"). The one reading of a layer name, for explain and dream alike;
    `UnknownNameError` listing the choices (and the clashing names of an ambiguous part) otherwise."""
    exact = [entry for entry in layers if entry.name == name]
    if exact:
        return exact[0]
    short = [entry for entry in layers if entry.name.rsplit(".", 1)[-1] == name]
    if len(short) == 1:
        return short[0]
    if short:
        raise UnknownNameError(f"{name!r} is the last part of several layers of {owner} "
                               f"({', '.join(e.name for e in short)}); give the full name")
    raise UnknownNameError(f"{owner} has no conv layer {name!r}; choose from: "
                           + ", ".join(f"{e.name} ({e.shape[0]} channels)" for e in layers))


@dataclass(frozen=True, eq=False)
class Explanation:
    """One image explained for one class.

    `heatmap` is H×W float32 in [0, 1] at the network's input resolution (for
    "guided-backprop" the gradient's magnitude, max over channels); `layer_map` the raw map
    at the layer's resolution before upsampling and scaling (None for guided backprop);
    `guided` the C×H×W input gradient of the guided methods (None for the CAMs); `probs` the
    softmax of the image over the classes.
    """

    method: str
    layer: str | None
    target: int
    target_name: str | None
    probs: np.ndarray
    heatmap: np.ndarray
    layer_map: np.ndarray | None = None
    guided: np.ndarray | None = None

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probs))

    def topk(self, classes: Sequence[str], k: int = 5) -> tuple[tuple[str, float], ...]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return tuple((classes[i], float(self.probs[i])) for i in order)


def _candidates(model: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Every convolution and parallel block (Inception, multi-scale) of the layer graph, with its kind."""
    from cnnstudio.models.graph import layer_graph

    graph = layer_graph(model)
    return {node.name: (model.get_submodule(node.name), node.kind) for node in graph.nodes.values()
            if node.name and node.kind in ("conv", "block")}


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def cam_layers(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[CamLayer, ...]:
    """Every conv layer and Inception block that runs in eval mode, in the order they finish,
    with their output shape for an input of `input_shape` (C, H, W). Looks only: hooks are
    removed and the train/eval mode restored."""
    found: list[CamLayer] = []
    handles = []

    def recorder(name: str, kind: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                found.append(CamLayer(name, kind, tuple(int(s) for s in out.shape[1:])))
        return hook

    was_training = model.training
    try:
        for name, (module, kind) in _candidates(model).items():
            handles.append(module.register_forward_hook(recorder(name, kind)))
        model.eval()
        model(torch.zeros((1, *input_shape), device=_device_of(model)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return tuple(found)


# ---------------------------------------------------------------------------- guided backprop


class _GuidedActivation(torch.autograd.Function):
    """y = f(x) forward; backward passes only positive gradients, times f'(x) (ReLU: where x > 0)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
        if kind == "relu":
            y = x.clamp(min=0)
        elif kind == "tanh":
            y = x.tanh()
        elif kind == "sigmoid":
            y = x.sigmoid()
        else:  # leaky_relu
            y = F.leaky_relu(x, slope)
        ctx.kind, ctx.slope = kind, slope
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (y,) = ctx.saved_tensors
        if ctx.kind == "relu":
            local = (y > 0).to(grad.dtype)
        elif ctx.kind == "tanh":
            local = 1 - y * y
        elif ctx.kind == "sigmoid":
            local = y * (1 - y)
        else:
            local = torch.where(y > 0, torch.ones_like(y), torch.full_like(y, ctx.slope))
        return grad.clamp(min=0) * local, None, None


_RELU = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
_TANH = {torch.tanh, torch.tanh_, F.tanh, torch.Tensor.tanh, torch.Tensor.tanh_}
_SIGMOID = {torch.sigmoid, torch.sigmoid_, F.sigmoid, torch.Tensor.sigmoid, torch.Tensor.sigmoid_}
_LEAKY = {F.leaky_relu, F.leaky_relu_}


class _GuidedMode(TorchFunctionMode):
    """Routes every ReLU / tanh / sigmoid / leaky ReLU called inside it through `_GuidedActivation`.

    In-place variants return the guided result instead of writing into their input (the
    models here use the returned value, as `nn.ReLU(inplace=True)` does).
    """

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELU:
            return _GuidedActivation.apply(args[0], "relu", 0.0)
        if func in _TANH:
            return _GuidedActivation.apply(args[0], "tanh", 0.0)
        if func in _SIGMOID:
            return _GuidedActivation.apply(args[0], "sigmoid", 0.0)
        if func in _LEAKY:
            slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
            return _GuidedActivation.apply(args[0], "leaky_relu", float(slope))
        return func(*args, **kwargs)


# ---------------------------------------------------------------------------- the explainer


class Explainer:
    """Explains images for one trained model; make one per model and reuse it (it copies the weights once).

    `trained` is a `TrainedModel` (classes known, so targets can be named) or a bare
    `nn.Module` with `input_size`/`in_channels` given. `copy_weights=False` hands the model
    over instead (it is switched to eval and its parameters frozen): for a model loaded only
    to be explained, where a copy of VGG's 550 MB would be waste.
    """

    def __init__(self, trained: TrainedModel | nn.Module, *, input_size: int | None = None,
                 in_channels: int | None = None, classes: Sequence[str] | None = None,
                 copy_weights: bool = True) -> None:
        if isinstance(trained, TrainedModel):
            model, input_size = trained.model, input_size or trained.input_size
            in_channels, classes = in_channels or trained.in_channels, classes or trained.classes
        else:
            model = trained
        if input_size is None or in_channels is None:
            raise CnnStudioError("an Explainer for a bare model needs its input_size and in_channels")
        self.input_size = int(input_size)
        self.in_channels = int(in_channels)
        self.classes = tuple(classes) if classes is not None else None
        # Our own copy: eval mode and frozen parameters here never reach the caller's model.
        self.model = (copy.deepcopy(model) if copy_weights else model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = _device_of(self.model)
        self._layers: dict[tuple[int, int], tuple[CamLayer, ...]] = {}

    # -- layers ---------------------------------------------------------------------------

    def layers(self, size: int | None = None) -> tuple[CamLayer, ...]:
        """The layers Grad-CAM can use, for inputs of side `size` (default: the input size)."""
        size = size or self.input_size
        key = (self.in_channels, size)
        if key not in self._layers:
            self._layers[key] = cam_layers(self.model, (self.in_channels, size, size))
        return self._layers[key]

    def default_layer(self, size: int | None = None) -> str:
        """The last conv layer or Inception block whose output is larger than 1×1."""
        usable = [layer for layer in self.layers(size) if layer.shape[1] * layer.shape[2] > 1]
        if not usable:
            raise CnnStudioError(f"{self._arch()} has no convolution output larger than 1×1 at this input size")
        return usable[-1].name

    def _arch(self) -> str:
        return getattr(self.model, "arch_name", type(self.model).__name__)

    def resolve(self, layer: str, size: int | None = None) -> str:
        """The full name of `layer` (a full name or a unique last part: "c1"), see `resolve_layer`."""
        return resolve_layer(self.layers(size), layer, owner=self._arch()).name

    def _check_layer(self, layer: str, size: int) -> nn.Module:
        names = [entry.name for entry in self.layers(size)]
        if layer not in names:
            raise UnknownNameError(f"{self._arch()} has no layer {layer!r} for Grad-CAM; choose from: {', '.join(names)}")
        return dict(self.model.named_modules())[layer]

    def target_index(self, target: int | str | None, probs: torch.Tensor) -> int:
        """A class by index or name (None: the predicted one), checked."""
        num_classes = int(probs.numel())
        if target is None:
            return int(probs.argmax())
        if isinstance(target, str):
            if self.classes is None or target not in self.classes:
                known = _listing(self.classes) if self.classes else f"indices 0..{num_classes - 1}"
                raise UnknownNameError(f"no class {target!r} in this run; its classes: {known}")
            return self.classes.index(target)
        if not 0 <= int(target) < num_classes:
            raise UnknownNameError(f"class index {target} is outside 0..{num_classes - 1}")
        return int(target)

    # -- explaining -----------------------------------------------------------------------

    def explain(self, x: torch.Tensor, *, method: str = "gradcam", layer: str | None = None,
                target: int | str | None = None) -> Explanation:
        """Explain one model input `x` (C×S×S or 1×C×S×S, normalised) for class `target` (default predicted)."""
        if method not in CAM_METHODS:
            raise UnknownNameError(f"unknown method {method!r}: choose from {', '.join(CAM_METHODS)}")
        x = (x if x.dim() == 4 else x.unsqueeze(0)).to(self.device, torch.float32)
        if x.shape[0] != 1:
            raise CnnStudioError(f"explain one image at a time; got a batch of {x.shape[0]}")
        size = int(x.shape[-1])
        cam_map = layer_map = guided = None
        chosen = None
        if method != "guided-backprop":
            chosen = self.default_layer(size) if layer is None else self.resolve(layer, size)
            module = self._check_layer(chosen, size)
            probs, tgt, activation, gradient = self._layer_gradient(x, module, target)
            layer_map = _cam(activation, gradient, plus=method == "gradcam++")
            cam_map = _upsample(layer_map, x.shape[-2:])
        if method.startswith("guided"):
            probs, tgt, guided = self._guided_gradient(x, target if method == "guided-backprop" else tgt)
            if cam_map is not None:
                guided = guided * _scaled(cam_map)[None]  # the map as shown, 0..1
            heatmap = _scaled(guided.abs().amax(dim=0))
        else:
            heatmap = _scaled(cam_map)
        name = self.classes[tgt] if self.classes is not None and tgt < len(self.classes) else None
        return Explanation(
            method=method, layer=chosen, target=tgt, target_name=name, probs=probs.cpu().numpy(),
            heatmap=heatmap.cpu().numpy().astype(np.float32),
            layer_map=None if layer_map is None else layer_map.cpu().numpy().astype(np.float32),
            guided=None if guided is None else guided.cpu().numpy().astype(np.float32),
        )

    def _layer_gradient(self, x: torch.Tensor, module: nn.Module,
                        target: int | str | None) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
        """(softmax, target, the layer's output A, ∂y_target/∂A), both 1×K×h×w."""
        kept: dict[str, torch.Tensor] = {}

        def forward_hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> torch.Tensor:
            kept["activation"] = out
            out.register_hook(lambda grad: kept.__setitem__("gradient", grad))
            return out.clone()  # what follows may work in place: keep A as the layer made it

        handle = module.register_forward_hook(forward_hook)
        try:
            with torch.enable_grad():
                logits = self.model(x.detach().requires_grad_(True))
                probs = torch.softmax(logits.detach()[0].float(), dim=0)
                tgt = self.target_index(target, probs)
                # Back to A only: the layers before it (and every weight) need no gradient.
                logits[0, tgt].backward(inputs=[kept["activation"]])
        finally:
            handle.remove()
        return probs, tgt, kept["activation"].detach(), kept["gradient"].detach()

    def _guided_gradient(self, x: torch.Tensor, target: int | str | None) -> tuple[torch.Tensor, int, torch.Tensor]:
        """(softmax, target, the guided input gradient C×H×W)."""
        inp = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            with _GuidedMode():
                logits = self.model(inp)
            probs = torch.softmax(logits.detach()[0].float(), dim=0)
            tgt = self.target_index(target, probs)
            logits[0, tgt].backward(inputs=[inp])
        return probs, tgt, inp.grad.detach()[0]


def _listing(names: Sequence[str], limit: int = 20) -> str:
    """Names for a one-line message: all of LeNet's ten digits, the first 20 of ImageNet's 1000."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} … ({len(names)} classes)"


def _cam(activation: torch.Tensor, gradient: torch.Tensor, *, plus: bool) -> torch.Tensor:
    """ReLU(Σ_k w_k A_k) at the layer's resolution (h×w) from A and ∂y/∂A (1×K×h×w)."""
    a, g = activation[0].float(), gradient[0].float()
    if plus:
        g2 = g * g
        g3 = g2 * g
        denom = 2 * g2 + a.sum(dim=(1, 2), keepdim=True) * g3
        alpha = torch.where(g != 0, g2 / (denom + _EPS), torch.zeros_like(g))
        weights = (alpha * g.clamp(min=0)).sum(dim=(1, 2))
    else:
        weights = g.mean(dim=(1, 2))
    return torch.relu((weights[:, None, None] * a).sum(dim=0))


def _upsample(layer_map: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(layer_map[None, None], size=tuple(int(s) for s in size), mode="bilinear",
                         align_corners=False)[0, 0]


def _scaled(values: torch.Tensor) -> torch.Tensor:
    """Scaled to [0, 1] by the maximum (an all-zero map — no positive evidence — stays zero)."""
    top = values.max()
    return values / top if float(top) > 0 else torch.zeros_like(values)


# ---------------------------------------------------------------------------- pictures


def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] map as jet colours: float32 H×W×3 in [0, 1] (blue = 0, red = 1)."""
    t = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)[..., None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # red, green, blue
    return np.clip(1.5 - np.abs(4 * t - centres), 0, 1)


def _as_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 C×H×W (torch or numpy) or H×W×C → float H×W×3 in [0, 1]."""
    arr = image.cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 2:
        arr = arr[..., None]
    arr = arr.astype(np.float32) / 255.0
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _upscale(arr: np.ndarray, factor: int, *, smooth: bool) -> np.ndarray:
    if factor == 1:
        return arr
    if not smooth:
        return arr.repeat(factor, axis=0).repeat(factor, axis=1)
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    out = F.interpolate(t, scale_factor=factor, mode="bilinear", align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


def overlay(image: np.ndarray | torch.Tensor, heatmap: np.ndarray, *, alpha: float = 0.45,
            min_side: int = 224) -> np.ndarray:
    """The image with the heat map laid over it: uint8 H'×W'×3, enlarged by a whole factor to at
    least `min_side` (pixels kept sharp, the map smooth) so a 32-px digit can be looked at."""
    base = _as_hwc(image)
    h, w = base.shape[:2]
    if heatmap.shape != (h, w):
        raise CnnStudioError(f"the heat map is {heatmap.shape[0]}×{heatmap.shape[1]}, the image {h}×{w}")
    factor = max(1, -(-min_side // max(h, w)))
    base = _upscale(base, factor, smooth=False)
    heat = np.clip(_upscale(np.asarray(heatmap, np.float32)[..., None], factor, smooth=True)[..., 0], 0, 1)
    mixed = (1 - alpha) * base + alpha * heat_colours(heat)
    return (np.clip(mixed, 0, 1) * 255).round().astype(np.uint8)


def guided_image(guided: np.ndarray, *, min_side: int = 224) -> np.ndarray:
    """A guided gradient (C×H×W) as a picture: uint8 H'×W'×3, mid-grey = 0, spread ±0.1 per std."""
    g = np.asarray(guided, dtype=np.float32).transpose(1, 2, 0)
    g = (g - g.mean()) / (g.std() + 1e-5) * 0.1 + 0.5
    g = np.clip(g, 0, 1)
    if g.shape[2] == 1:
        g = np.repeat(g, 3, axis=2)
    factor = max(1, -(-min_side // max(g.shape[:2])))
    return (_upscale(g, factor, smooth=False) * 255).round().astype(np.uint8)
