"""The command line's evaluation and explanation verbs: `evaluate`, `explain`, `neighbours`, `kernels`, `dream`, `data`.

Kept apart from `cli.py` (which only registers them) so the verbs grow without touching the
training face. Every user error is a `CnnStudioError`; `cli.main` prints it as one line and
exits 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from cnnstudio.cli_options import finite_number, whole_number
from cnnstudio.errors import CnnStudioError
from cnnstudio.files import readable

__all__ = ["add_commands"]

CLI_METHODS = {"gradcam": "gradcam", "gradcam++": "gradcam++", "guided": "guided-gradcam"}
MAX_NEIGHBOURS = 100  # -k: a grid of 101 tiles is already large; the whole split never is a "neighbourhood"
MAX_PENALTY = 1e4  # --tv, --l2: far above any useful weight, far below float32's overflow


def _device(name: str) -> str:
    from cnnstudio.training.fit.devices import resolve_device

    return str(resolve_device(name))


def _load(runs: list[str], which: str, device: str) -> list[Any]:
    from cnnstudio.inspect.inputs import TrainedModel

    models = [TrainedModel.from_run(run, which=which, device=device) for run in runs]
    names = [m.name for m in models]
    if len(set(names)) < len(names):  # two runs with one folder name: label them by path
        models = [type(m)(m.model, m.spec, m.input_size, m.in_channels, name=str(m.run_dir), run_dir=m.run_dir,
                          checkpoint=m.checkpoint, config=m.config) for m in models]
    return models


class _Progress:
    """A one-line progress count on stderr while a terminal watches (nothing when piped)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int, *_message: Any) -> None:
        if not self.shown or total <= 0:
            return
        pct = int(100 * done / total)
        if pct != self.last:
            self.last = pct
            print(f"\r{self.what}… {pct:3d} %", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown and self.last >= 0:
            print("\r" + " " * (len(self.what) + 8) + "\r", end="", file=sys.stderr, flush=True)


def _write_bytes(path: str | Path, payload: bytes) -> None:
    from cnnstudio.files import atomic_write

    atomic_write(path, lambda handle: handle.write(payload), size_estimate=len(payload))


def _write_png(path: str | Path, rgb: Any) -> None:
    from cnnstudio.inspect.pictures import save_png

    save_png(path, rgb)


# ---------------------------------------------------------------------------- evaluate


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.evaluate import TTA_MODES, compare, evaluate, load_eval_data
    from cnnstudio.inspect.report import format_comparison, format_evaluation

    if args.batch_size < 1:
        raise CnnStudioError(f"--batch-size must be at least 1; got {args.batch_size}")
    models = _load(args.runs, args.checkpoint, _device(args.device))
    from cnnstudio.data.catalog import mirroring_tta_warning

    warning = None if args.compare_tta else mirroring_tta_warning(args.tta, channels=models[0].spec.channels)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    progress = _Progress("loading the data")
    data = load_eval_data(models, args.data, tta="multiscale+tencrop" if args.compare_tta else args.tta,
                          progress=progress)
    progress.close()
    progress = _Progress("evaluating")
    rows = None
    if args.compare_tta or len(models) > 1:
        settings = TTA_MODES if args.compare_tta else (args.tta,)
        rows, results = compare(models, data, settings, batch_size=args.batch_size, progress=progress)
        main = results[("ensemble", args.tta) if len(models) > 1 else (models[0].name, args.tta)]
    else:
        main = evaluate(models[0], data, tta=args.tta, batch_size=args.batch_size, progress=progress)
    progress.close()
    print(format_evaluation(main))
    if rows is not None:
        print()
        print(format_comparison(rows))
    if args.json:
        payload: dict[str, Any] = {"checkpoint": args.checkpoint, "runs": [str(m.run_dir) for m in models],
                                   "evaluation": main.to_dict()}
        if rows is not None:
            payload["comparison"] = [{"model": r.model, "tta": r.tta, "top1": r.top1, "top5": r.top5,
                                      "samples": r.samples} for r in rows]
        # A name that is not UTF-8 is written as JSON's \udce9, read back as the same name (as run files are).
        _write_bytes(args.json, (json.dumps(payload, indent=1, ensure_ascii=False) + "\n").encode("utf-8",
                                                                                                  "backslashreplace"))
        print(f"\nwritten: {readable(args.json)}")
    return 0


# ---------------------------------------------------------------------------- explain


def _cmd_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnstudio.inspect.cam import Explainer, guided_image, overlay
    from cnnstudio.inspect.inputs import prepare_image

    if not args.output.lower().endswith(".png"):
        raise CnnStudioError(f"-o {args.output}: the overlay is written as PNG; give a file name ending in .png")
    if args.heatmap and not args.heatmap.lower().endswith(".npy"):
        raise CnnStudioError(f"--heatmap {args.heatmap}: the raw map is a NumPy file; give a name ending in .npy")
    (trained,) = _load([args.run], args.checkpoint, _device(args.device))
    image = prepare_image(args.image, trained, auto_invert=not args.no_invert)
    explainer = Explainer(trained, copy_weights=False)  # loaded for this alone
    method = CLI_METHODS[args.method]
    result = explainer.explain(image.x, method=method, layer=args.layer, target=args.target_class)
    picture = overlay(image.seen, result.heatmap) if result.guided is None else guided_image(result.guided)
    _write_png(args.output, picture)
    if args.heatmap:
        buffer = io.BytesIO()
        np.save(buffer, result.heatmap.astype(np.float32), allow_pickle=False)
        _write_bytes(args.heatmap, buffer.getvalue())
    classes = trained.classes
    top = ", ".join(f"{name} {p:.3f}" for name, p in result.topk(classes, 3))
    shape = next(layer.shape for layer in explainer.layers() if layer.name == result.layer)
    print(readable(f"{args.image}" + (f"  ({image.note})" if image.note else "")))
    print(readable(f"  top: {top}"))
    print(readable(f"  {args.method} for class {result.target_name} at {result.layer} ({shape[1]}×{shape[2]})"))
    print(readable(f"  overlay: {args.output}"))
    if args.heatmap:
        print(f"  heat map: {readable(args.heatmap)} ({result.heatmap.shape[0]}×{result.heatmap.shape[1]} float32, 0–1)")
    return 0


# ---------------------------------------------------------------------------- neighbours


def _cmd_neighbours(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.inputs import prepare_image
    from cnnstudio.inspect.neighbours import feature_layer, neighbour_grid, query_features, run_feature_bank

    if args.k < 1:
        raise CnnStudioError(f"-k must be at least 1; got {args.k}")
    if not args.output.lower().endswith(".png"):
        raise CnnStudioError(f"-o {args.output}: the grid is written as PNG; give a file name ending in .png")
    (trained,) = _load([args.run], args.checkpoint, _device(args.device))
    image = prepare_image(args.image, trained, auto_invert=not args.no_invert)
    progress = _Progress(f"features of the {args.split} split")
    bank, data = run_feature_bank(trained, split=args.split, progress=progress)
    progress.close()
    features, probs = query_features(trained, image.x)
    found = bank.query(features, args.k, exclude_self=True)
    pred = int(probs.argmax())
    classes = trained.classes
    picks = [(int(i), float(d)) for i, d in zip(found.indices[0], found.distances[0]) if i >= 0]
    labels = data.labels
    images = [data.image(i) for i, _d in picks]
    captions = [f"{classes[int(labels[i])]}\nd = {d:.3g}" for i, d in picks]
    grid = neighbour_grid(image.seen.numpy(), f"query: {classes[pred]}\np = {float(probs[pred]):.2f}", images, captions)
    _write_png(args.output, grid)
    print(readable(f"{args.image}: predicted {classes[pred]} ({float(probs[pred]):.3f})"
                   + (f"  ({image.note})" if image.note else "")))
    if len(picks) < args.k:  # the split is smaller than -k: all of it, said
        print(readable(f"note: -k {args.k}: {data.description} has only {len(picks)} other image(s)"), file=sys.stderr)
    print(readable(f"nearest in {data.description}, by the {feature_layer(trained.model).in_features}-d features:"))
    for rank, (i, d) in enumerate(picks, 1):
        print(readable(f"  {rank}. {classes[int(labels[i])]}  distance {d:.4g}  (image {i})"))
    print(readable(f"grid: {args.output}"))
    return 0


# ---------------------------------------------------------------------------- kernels


def _cmd_kernels(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.history import KernelHistory, gif_frames, history_gif, kernel_png, run_kernel_shape
    from cnnstudio.training.store.runs import open_run

    out = args.output.lower()
    if not out.endswith((".png", ".gif")):
        raise CnnStudioError(f"-o {args.output}: give a file name ending in .png (one grid) or .gif (the whole history)")
    if out.endswith(".gif") and args.epoch is not None:
        raise CnnStudioError("--epoch picks one grid, written as .png; a .gif holds the whole history (--all)")
    if out.endswith(".png") and args.all:
        raise CnnStudioError("--all writes the whole history as an animated GIF; give -o kernels.gif")
    run = open_run(args.run)  # a clear message when it is not a run folder
    history = KernelHistory.load(run, kernel_shape=run_kernel_shape(run))  # snapshots of another shape: left out
    for problem in history.problems:
        print(readable(f"note: {problem}"), file=sys.stderr)
    if out.endswith(".gif"):
        shown = len(gif_frames(len(history)))
        if shown < len(history):
            print(f"note: {len(history):,} snapshots; the GIF shows {shown} of them, evenly spaced", file=sys.stderr)
        _write_bytes(args.output, history_gif(history, per_frame_contrast=args.per_frame_contrast))
        first, last = history.snapshots[0], history.snapshots[-1]
        print(readable(f"{args.output}: {shown} frames, {first.label} to {last.label}, ")
              + ("each frame on its own scale" if args.per_frame_contrast else f"one scale (|w| ≤ {history.scale:.3g})"))
        return 0
    index = len(history) - 1 if args.epoch is None else history.index_of_epoch(args.epoch)
    _write_bytes(args.output, kernel_png(history, index, per_frame_contrast=args.per_frame_contrast))
    print(readable(f"{args.output}: {history.snapshots[index].kernel_layer} at {history.snapshots[index].label} "
                   f"(snapshot {index + 1} of {len(history)})"))
    return 0


# ---------------------------------------------------------------------------- dream


def parse_channels(text: str, *, limit: int = 256) -> list[int]:
    """ "0-15" or "0,3,8-11" → the channel indices, in order; at most `limit` of them (dream's
    MAX_TARGETS), counted before any list is built ("0-2000000000" is refused, not allocated)."""
    channels: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            if len(first) > 18 or len(last) > 18:
                raise ValueError
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise CnnStudioError(f"--channels {text}: give numbers and ranges such as 0-15 or 0,3,8-11") from None
        if low < 0 or high < low:
            raise CnnStudioError(f"--channels {text}: {part.strip()} is not a range from low to high")
        if len(channels) + high - low + 1 > limit:
            raise CnnStudioError(f"--channels {text}: at most {limit} channels at once")
        channels.extend(range(low, high + 1))
    return channels


def _cmd_dream(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.dream import check_tile, dream_channels, dream_classes, dream_grid

    if args.channels is not None and args.layer is None:
        raise CnnStudioError("--channels needs --layer: the channels of which layer?")
    if args.layer is not None and args.target_class is not None:
        raise CnnStudioError("give --layer NAME (its channels) or --class NAME[,NAME…] / --class all, not both")
    if args.layer is None and args.target_class is None:
        raise CnnStudioError("what should it render? give --class all (one image per class), --class NAME[,NAME…], "
                             "or --layer NAME (its channels)")
    if not args.output.lower().endswith(".png"):
        raise CnnStudioError(f"-o {args.output}: the grid is written as PNG; give a file name ending in .png")
    check_tile(args.tile)
    (trained,) = _load([args.run], args.checkpoint, _device(args.device))
    progress = _Progress("optimising")
    options: dict[str, Any] = dict(steps=args.steps, param=args.param, tv=args.tv, seed=args.seed, progress=progress)
    if args.l2 is not None:  # else the engine's default for the mode
        options["l2"] = args.l2
    if args.layer is not None:
        from cnnstudio.inspect.dream import MAX_TARGETS

        channels = parse_channels(args.channels, limit=MAX_TARGETS) if args.channels is not None else None
        result = dream_channels(trained, args.layer, channels, **options)
    else:
        wanted = None if args.target_class == "all" else [c.strip() for c in args.target_class.split(",")]
        result = dream_classes(trained, wanted, **options)
    progress.close()
    single = len(result.targets) == 1
    if single:  # the image itself, at the model's size and channels: it can be fed back to classify
        image = result.images[0]
        _write_png(args.output, image[..., 0] if image.shape[-1] == 1 else image)
    else:
        _write_png(args.output, dream_grid(result, tile=args.tile))
    what = f"{len(result.targets)} channel(s) of {result.layer}" if result.kind == "channel" else \
        f"{len(result.targets)} class(es)"
    print(readable(f"{trained.name}: {what}") + f", {result.steps} steps in {result.param} space, {result.seconds:.1f} s")
    for i, name in enumerate(result.names):
        called, p = result.predicted(i)
        if result.kind == "class":
            p_own = float(result.target_probs()[i])
            print(readable(f"  {name}: p = {p_own:.3f}" + ("" if called == name else f"  (the net calls it {called}, "
                                                                                     f"{p:.3f})")
                           + f"  logit {result.start[i]:.3g} → {result.objective[i]:.3g}"))
        else:
            print(readable(f"  {name}: mean output {result.start[i]:.3g} → {result.objective[i]:.3g}"
                           f"  (the net calls it {called}, {p:.3f})"))
    print(readable(f"{'image' if single else 'grid'}: {args.output}"))
    return 0


# ---------------------------------------------------------------------------- parser


# ---------------------------------------------------------------------------- data


def _cmd_data(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnstudio.data.catalog import check_augmentations
    from cnnstudio.data.overview import augmented_examples, dataset_overview
    from cnnstudio.inspect.pictures import caption_grid
    from cnnstudio.training.input_size import dataset_native_size

    # Refused before anything is loaded.
    augment = check_augmentations(a for a in (args.augment or "").split(",") if a)
    if args.per_class < 1:
        raise CnnStudioError(f"--per-class must be at least 1; got {args.per_class}")
    for option, path, suffix in (("-o", args.output, ".png"), ("--json", args.json, ".json")):
        if path and not path.lower().endswith(suffix):
            raise CnnStudioError(f"{option} {path}: give a file name ending in {suffix}")
    input_size = args.input_size or min(dataset_native_size(args.dataset) or 224, 224)
    progress = _Progress("Reading the dataset")
    try:
        overview = dataset_overview(args.dataset, root=args.data_root, val_fraction=args.val_fraction, seed=args.seed,
                                    input_size=input_size, augment=augment, per_class=args.per_class,
                                    progress=progress)
    finally:
        progress.close()
    for line in overview.lines():
        print(readable(line))  # class names are folder names: printed escaped
    if args.output:
        shown = augmented_examples(overview, augment, input_size=input_size, seed=args.seed)
        tiles, captions, columns = [], [], max(1, args.per_class)
        for label, name in enumerate(overview.classes):
            row = [image for image, of in zip(shown, overview.example_labels) if of == label]
            for i in range(columns):
                tiles.append(row[i] if i < len(row) else np.full_like(shown[0], 255))
                captions.append(name if i == 0 else "")
        tiles.append(np.round(overview.mean_image * 255).astype(np.uint8))
        captions.append("mean image")
        _write_png(args.output, caption_grid(tiles, captions, tile=args.tile, columns=columns))
        seen = f"through {', '.join(augment)}" if augment else "as validation sees them"
        print(f"\nwritten: {args.output} ({columns} training images per class at {input_size}×{input_size}, {seen})")
    if args.json:
        payload = {**overview.to_dict(), "input_size": input_size, "augment": list(augment)}
        # ASCII JSON: a folder name that is not UTF-8 (a lone surrogate) is written as \uXXXX, never a crash.
        _write_bytes(args.json, (json.dumps(payload, indent=1) + "\n").encode("ascii"))
        print(f"written: {args.json}")
    return 0


def _cmd_dynamics(args: argparse.Namespace) -> int:
    import json

    from cnnstudio.files import readable
    from cnnstudio.inspect.dynamics import diagnose, dynamics_json, format_table, layer_table, load_dynamics, render_png
    from cnnstudio.training.store.runs import open_run

    run = open_run(args.run)  # a clear message when it is not a run folder
    record = load_dynamics(run.path)
    for problem in record.problems:
        print(f"note: {problem}", file=sys.stderr)
    if args.output and not args.output.lower().endswith(".png"):
        raise CnnStudioError(f"-o {args.output}: give a file name ending in .png")
    rows = layer_table(record, args.epoch)
    findings = diagnose(record, args.epoch)
    epoch = args.epoch if args.epoch is not None else int(record.epochs[-1])
    print(f"{readable(run.path.name)}: epoch {epoch} (medians of its last sampled steps; {len(record)} samples in all)")
    print(format_table(rows))
    print()
    if findings:
        print("Diagnosis:")
        for finding in findings:
            print(f"- {readable(finding.text())}")
    else:
        print("Diagnosis: nothing stands out — gradients reach the first layers, activations are neither "
              "saturated nor dead, and each step changes the weights by about 1e-3 of their size.")
    if args.json:
        # ASCII JSON: a name holding any code point (a lone surrogate too) is written as \uXXXX.
        payload = json.dumps(dynamics_json(record, findings), indent=1) + "\n"
        _write_bytes(args.json, payload.encode("ascii"))
        print(f"wrote {readable(str(args.json))}")
    if args.output:
        render_png(record, args.output)
        print(f"wrote {readable(args.output)}")
    return 0


def add_commands(sub: Any) -> None:
    """Register `evaluate`, `explain`, `neighbours`, `kernels`, `dream`, `dynamics` and `data` on the main parser's subcommands."""
    from cnnstudio.choices import ImageParam, TestTime, device_option

    p = sub.add_parser("evaluate", help="accuracy, per-class table and confusions of trained runs (TTA, ensembles)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s); several are averaged as an ensemble")
    p.add_argument("--tta", choices=TestTime.values(), default="none",
                   help="test-time augmentation: flip, ten crops (AlexNet), multi-scale (VGG) or both; flip and "
                        "ten crops add mirror images, which lowers accuracy on digits and letters")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--data", metavar="PATH",
                   help="evaluate on this image folder or dataset's test split instead of the run's validation split")
    p.add_argument("--json", metavar="FILE", help="also write everything (with per-image records) as JSON")
    p.add_argument("--compare-tta", action="store_true",
                   help="one row per test-time setting (and the ensemble), as in the VGG paper's tables 3-5")
    p.add_argument("--batch-size", type=whole_number(1, 65_536), default=256)
    p.add_argument("--device", type=device_option, default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("explain", help="Grad-CAM heat map of an image: which pixels drove the answer")
    p.add_argument("run")
    p.add_argument("image")
    p.add_argument("--layer", help="a conv layer or Inception block (default: the last one larger than 1×1)")
    p.add_argument("--class", dest="target_class", metavar="NAME", help="the class to explain (default: predicted)")
    p.add_argument("--method", choices=tuple(CLI_METHODS), default="gradcam",
                   help="gradcam, gradcam++ or guided (guided Grad-CAM)")
    p.add_argument("-o", "--output", required=True, metavar="overlay.png")
    p.add_argument("--heatmap", metavar="map.npy", help="also write the map at input resolution (float32 .npy)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--no-invert", action="store_true", help="keep a grey image's colours (see classify)")
    p.add_argument("--device", type=device_option, default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("neighbours", help="the training images nearest to an image by the last hidden layer")
    p.add_argument("run")
    p.add_argument("image")
    p.add_argument("-k", type=whole_number(1, MAX_NEIGHBOURS), default=8,
                   help=f"how many neighbours to show, at most {MAX_NEIGHBOURS} (default: 8)")
    p.add_argument("-o", "--output", required=True, metavar="grid.png")
    p.add_argument("--split", choices=("train", "val"), default="train")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--no-invert", action="store_true", help="keep a grey image's colours (see classify)")
    p.add_argument("--device", type=device_option, default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.set_defaults(func=_cmd_neighbours)

    p = sub.add_parser("dynamics", help="why a run trains or doesn't: per-layer gradients, activations and update "
                                        "ratios at a moment, and a diagnosis in words")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--epoch", type=int, metavar="N", help="the moment: epoch N's last sampled steps (default: the last "
                                                          "epoch recorded)")
    p.add_argument("--json", metavar="FILE", help="write every sample: steps, per layer the figures, the diagnosis")
    p.add_argument("-o", "--output", metavar="dyn.png", help="write the colorful-dimension picture and the gradient "
                                                             "norms over training")
    p.set_defaults(func=_cmd_dynamics)

    p = sub.add_parser("kernels", help="the first conv layer's kernels across training: one grid (PNG) or the "
                                       "whole history (animated GIF)")
    p.add_argument("run", metavar="RUN", help="a run folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--epoch", type=whole_number(0, 1_000_000), metavar="N", help="the kernels at the end of epoch N (0: the initial "
                                                              "weights; default: the latest snapshot)")
    which.add_argument("--all", action="store_true", help="every snapshot, as an animated GIF (-o ….gif)")
    p.add_argument("-o", "--output", required=True, metavar="kernels.png|kernels.gif")
    p.add_argument("--per-frame-contrast", action="store_true",
                   help="scale each frame by its own largest weight (default: one scale for the whole history, "
                        "so the frames show real change)")
    p.set_defaults(func=_cmd_kernels)

    p = sub.add_parser("dream", help="what excites the network: images optimised for conv channels or classes")
    p.add_argument("run")
    p.add_argument("--layer", help="a conv layer or Inception block (its full name, or its last part: c3)")
    p.add_argument("--channels", metavar="0-15", help="the layer's channels, e.g. 0-15 or 0,3,8-11 (default: the first 16)")
    p.add_argument("--class", dest="target_class", metavar="NAME",
                   help="a class, several (7,9), or all: one image each, maximising its logit")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png",
                   help="one class or channel: the image itself at the model's size (classify can read it back); "
                        "several: a captioned grid")
    p.add_argument("--steps", type=whole_number(1, 100_000), default=256, help="Adam steps (lr 0.05); 256-512 is the usual range")
    p.add_argument("--param", choices=ImageParam.values(), default="auto",
                   help="the image's parameters: pixels, or a 1/f-scaled spectrum (auto: pixels below 64 px)")
    p.add_argument("--tv", type=finite_number(0.0, MAX_PENALTY), default=0.0, help="total-variation penalty weight (smoother images)")
    p.add_argument("--l2", type=finite_number(0.0, MAX_PENALTY), default=None,
                   help="L2 penalty towards the dataset's mean (default: a light one for classes, none for channels)")
    p.add_argument("--seed", type=whole_number(0, 2**63 - 1), default=0)
    p.add_argument("--tile", type=whole_number(1, 1_000_000), default=112,
                   help="pixels per image in the grid, 8 to 512 (default: 112)")
    p.add_argument("--checkpoint", "--which", dest="checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--device", type=device_option, default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.set_defaults(func=_cmd_dream)

    p = sub.add_parser("data", help="a dataset before training: classes and counts per split (as a run splits "
                                    "them), image sizes, mean/std, examples per class (-o), augmentations")
    p.add_argument("dataset", help="a dataset name (see 'cnnstudio list') or an image folder")
    p.add_argument("--augment", metavar="A,B", help="show the examples through these training augmentations, "
                                                    "comma-separated: crop, flip, pca, scale (default: none)")
    p.add_argument("-o", "--output", metavar="grid.png", help="a grid of training images per class, and the mean image")
    p.add_argument("--json", metavar="FILE", help="also write classes, counts per split, sizes and mean/std as JSON")
    p.add_argument("--input-size", type=whole_number(8, 2048), help="the side the examples are shown at, as a run "
                                                                    "at that size is fed (default: the dataset's own, "
                                                                    "at most 224)")
    p.add_argument("--per-class", type=whole_number(1, 64), default=8, help="examples per class in the grid (default: 8)")
    p.add_argument("--tile", type=whole_number(8, 512), default=64, help="pixels per image in the grid (default: 64)")
    p.add_argument("--val-fraction", type=finite_number(0.0, 0.95, low_open=True), default=0.1,
                   help="share held out for validation when the dataset has no validation split (default: 0.1)")
    p.add_argument("--seed", type=whole_number(0, 2**63 - 1), default=0, help="the run's seed: the same split (default: 0)")
    p.add_argument("--data-root", help="where datasets are downloaded and read")
    p.set_defaults(func=_cmd_data)
