"""Benchmark sections for evaluation and explanation (issue 12): (g) evaluation, (h) Grad-CAM, (i) neighbours;
(n) activation maximisation (issue 13).

Each figure is a ratio against the bare PyTorch call a script would write for the same
work, measured side by side in one run (interleaved rounds, medians), except the k-NN query,
which has an absolute target.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from timing import Figure, Section, median, sync, time_calls

__all__ = ["dream_speed", "evaluation_speed", "gradcam_speed", "neighbours_speed"]


def _lenet_on_mnist_sample(device: torch.device) -> tuple[Any, Any, Any]:
    """(TrainedModel, bundle, spec): LeNet-5 as the app builds it for mnist-sample, at 32×32."""
    from cnnstudio.data.loaders import load_dataset
    from cnnstudio.inspect.inputs import TrainedModel
    from cnnstudio.models.registry import build_model

    bundle = load_dataset("mnist-sample", seed=0)
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10).to(device).eval()
    return TrainedModel(model, bundle.spec, input_size=32, in_channels=1, name="lenet5"), bundle, bundle.spec


def _bare_forward_rate(model: Any, x: torch.Tensor, batch_size: int, device: torch.device, passes: int) -> float:
    """Images/s of `model(x)` over ready tensors, batch by batch, no grad (a script's loop)."""
    n = x.shape[0]
    sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(passes):
            for start in range(0, n, batch_size):
                model(x[start:start + batch_size])
    sync(device)
    return n * passes / (time.perf_counter() - started)


def evaluation_speed(*, device: torch.device, quick: bool) -> Section:
    """(g) `evaluate` on mnist-sample's validation split against a bare `model(x)` loop over the same tensors."""
    from cnnstudio.data.transforms import to_model_input
    from cnnstudio.inspect.evaluate import EvalData, evaluate

    section = Section("g", "evaluation: evaluate() ÷ bare model(x) loop (lenet5, mnist-sample validation, 32×32, batch 256)")
    trained, bundle, spec = _lenet_on_mnist_sample(device)
    data = EvalData(bundle.val, spec.classes, "mnist-sample validation")
    x = to_model_input(bundle.val.images, spec, input_size=32, in_channels=1).to(device)
    batch, passes, rounds = 256, (4 if quick else 20), (2 if quick else 5)

    def engine_rate(cold: bool) -> float:
        sync(device)
        started = time.perf_counter()
        for _ in range(passes):
            # Cold: a fresh EvalData converts the split on the way (the first evaluation of a
            # split); warm: the split's converted copy is kept (every later one: each epoch, each TTA row).
            evaluate(trained, EvalData(bundle.val, spec.classes, "v") if cold else data, tta="none",
                     batch_size=batch)
        sync(device)
        return len(data) * passes / (time.perf_counter() - started)

    engine_rate(False)  # warm-up
    _bare_forward_rate(trained.model, x, batch, device, 2)
    rates: dict[str, list[float]] = {"cold": [], "warm": [], "bare": []}
    for _ in range(rounds):
        rates["cold"].append(engine_rate(True))
        rates["warm"].append(engine_rate(False))
        rates["bare"].append(_bare_forward_rate(trained.model, x, batch, device, passes))
    section.raw = {"images_per_s": rates, "images": len(data), "passes_per_round": passes}
    for kind, label in (("warm", "evaluate, split already converted ÷ bare forward"),
                        ("cold", "first evaluate of a split (converts it) ÷ bare forward")):
        ratios = [e / b for e, b in zip(rates[kind], rates["bare"])]
        ratio = median(ratios)
        section.raw[f"ratios_{kind}"] = ratios
        section.figures.append(Figure(
            f"g.{kind}", label, ratio, "×", "≥ 0.9", ratio >= 0.9,
            f"{median(rates[kind]):,.0f} vs {median(rates['bare']):,.0f} img/s (softmax, per-image records"
            + (", the validation transform" if kind == "cold" else "") + ")"))
    return section


def gradcam_speed(*, device: torch.device, quick: bool) -> Section:
    """(h) Grad-CAM of one image against the bare forward + backward of the same model."""
    from cnnstudio.inspect.cam import Explainer
    from cnnstudio.models.registry import build_model

    section = Section("h", "Grad-CAM of one image ÷ bare forward + backward (eval mode, batch 1)")
    plans = [("lenet5", 1, 32, 20 if quick else 60)]
    if device.type == "cuda" or not quick:
        plans += [("alexnet", 3, 224, 3 if quick else 10), ("googlenet", 3, 224, 3 if quick else 6),
                  ("vgg16", 3, 224, 2 if quick else 4)]
    for name, channels, size, repeats in plans:
        torch.manual_seed(0)
        model = build_model(name, in_channels=channels, num_classes=10).to(device).eval()
        x = torch.randn(1, channels, size, size, device=device)
        explainer = Explainer(model, input_size=size, in_channels=channels)
        explainer.default_layer()  # found once per explainer (one forward), as the window keeps its explainer

        def bare() -> None:
            model.zero_grad(set_to_none=True)
            out = model(x.clone().requires_grad_(True))
            out[0, int(out[0].argmax())].backward()

        def cam() -> None:
            explainer.explain(x[0], method="gradcam")

        bare_s: list[float] = []
        cam_s: list[float] = []
        for _ in range(repeats):  # interleaved pairs
            bare_s += time_calls(bare, repeats=1, warmup=0 if bare_s else 1, device=device)
            cam_s += time_calls(cam, repeats=1, warmup=0 if cam_s else 1, device=device)
        ratio = median(cam_s) / median(bare_s)
        section.raw[name] = {"bare_s": bare_s, "gradcam_s": cam_s, "input_size": size}
        section.figures.append(Figure(
            f"h.{name}", f"{name} at {size}×{size}: Grad-CAM ÷ forward + backward", ratio, "×", "≤ 3×", ratio <= 3,
            f"{median(cam_s) * 1000:.1f} vs {median(bare_s) * 1000:.1f} ms"))
        del model, explainer
    return section


def neighbours_speed(*, device: torch.device, quick: bool) -> Section:
    """(i) One k-NN query against 50,000 × 4,096 features; feature extraction ÷ a bare forward loop."""
    from cnnstudio.data.transforms import to_model_input
    from cnnstudio.inspect.evaluate import EvalData
    from cnnstudio.inspect.neighbours import FeatureBank, extract_features

    section = Section("i", "nearest neighbours: one query against 50,000 × 4,096 fp32 features; feature extraction")
    g = torch.Generator().manual_seed(0)
    features = torch.randn(50_000, 4096, generator=g).relu_()  # fc7 outputs are non-negative
    bank = FeatureBank(features, device=device)
    del features
    query = torch.randn(4096, generator=g).relu_()
    times = time_calls(lambda: bank.query(query, 8), repeats=5 if quick else 15, warmup=2, device=device)
    q = median(times)
    section.raw["knn_s"] = times
    section.figures.append(Figure("i.knn", "k-NN query (k = 8), 50,000 × 4,096", q * 1000, "ms", "≤ 250 ms",
                                  q <= 0.25, f"median of {len(times)}; ‖q‖² − 2q·Xᵀ + ‖x‖², then top-k"))
    del bank

    trained, bundle, spec = _lenet_on_mnist_sample(device)
    data = EvalData(bundle.train, spec.classes, "mnist-sample training split")
    x = to_model_input(bundle.train.images, spec, input_size=32, in_channels=1).to(device)
    batch, passes, rounds = 256, (1 if quick else 3), (2 if quick else 5)

    def engine_rate(cold: bool) -> float:
        sync(device)
        started = time.perf_counter()
        for _ in range(passes):
            extract_features(trained, EvalData(bundle.train, spec.classes, "t") if cold else data, batch_size=batch)
        sync(device)
        return len(data) * passes / (time.perf_counter() - started)

    engine_rate(False)
    _bare_forward_rate(trained.model, x, batch, device, 1)
    rates: dict[str, list[float]] = {"cold": [], "warm": [], "bare": []}
    for _ in range(rounds):
        rates["cold"].append(engine_rate(True))
        rates["warm"].append(engine_rate(False))
        rates["bare"].append(_bare_forward_rate(trained.model, x, batch, device, passes))
    section.raw["extraction"] = {"images_per_s": rates, "images": len(data)}
    for kind, label in (("cold", "feature extraction, 4,500 training digits (converts them) ÷ bare forward"),
                        ("warm", "feature extraction, split already converted ÷ bare forward")):
        ratios = [e / b for e, b in zip(rates[kind], rates["bare"])]
        ratio = median(ratios)
        section.raw["extraction"][f"ratios_{kind}"] = ratios
        section.figures.append(Figure(
            f"i.extract_{kind}", label, ratio, "×", "≥ 0.9", ratio >= 0.9,
            f"{median(rates[kind]):,.0f} vs {median(rates['bare']):,.0f} img/s"))
    return section


def dream_speed(*, device: torch.device, quick: bool) -> Section:
    """(n) Activation maximisation: LeNet-5's ten class images in one batch; 16 channels of a layer vs 1."""
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.inspect.dream import dream_channels, dream_classes
    from cnnstudio.inspect.inputs import TrainedModel
    from cnnstudio.models.registry import build_model

    section = Section("n", "activation maximisation: LeNet-5's 10 class images; 16 channels in one batch ÷ 1 channel")
    trained, _bundle, _spec = _lenet_on_mnist_sample(device)
    steps = 64 if quick else 256
    from cnnstudio.threads import default_threads, use_torch_threads

    # On the default threads (the app's background jobs) and on one: a batch of ten 32-px
    # images is too small to split, and on a busy machine two threads wait for each other.
    for threads in dict.fromkeys((default_threads(), 1)):
        use_torch_threads(threads)
        runs = [dream_classes(trained, steps=steps).seconds for _ in range(1 if quick else 3)]
        section.raw[f"lenet_classes_s_{threads}_threads"] = runs
        section.figures.append(Figure(
            f"n.lenet_classes_{threads}t", f"LeNet-5 @32: all 10 class images, {steps} steps, {threads} thread(s)",
            median(runs), "s", "", None, f"{median(runs) / steps * 1000:.1f} ms a step"))
    use_torch_threads()

    # AlexNet at its paper size, a middle layer; random weights (the cost does not depend on them).
    torch.manual_seed(0)
    model = build_model("alexnet", in_channels=3, num_classes=10).to(device).eval()
    spec = DatasetSpec(name="imagenet-like", channels=3, classes=tuple(f"c{i}" for i in range(10)),
                       mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), native_size=224)
    alexnet = TrainedModel(model, spec, input_size=224, in_channels=3, name="alexnet")
    steps = 3 if quick else 16
    times: dict[str, list[float]] = {"1": [], "16": []}
    dream_channels(alexnet, "conv3", [0], steps=1)  # warm-up
    for _ in range(1 if quick else 3):  # interleaved
        times["1"].append(dream_channels(alexnet, "conv3", [0], steps=steps).seconds)
        times["16"].append(dream_channels(alexnet, "conv3", range(16), steps=steps).seconds)
    one, sixteen = median(times["1"]), median(times["16"])
    section.raw["alexnet_conv3"] = {"steps": steps, "seconds": times}
    section.figures.append(Figure(
        "n.alexnet_batch", f"AlexNet @224, conv3: 16 channels in one batch ÷ 1 channel ({steps} steps)",
        sixteen / one, "×", "", None,
        f"{sixteen / steps * 1000:.0f} vs {one / steps * 1000:.0f} ms a step; 16 separate runs: 16×"))
    return section
