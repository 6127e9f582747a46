"""Evaluation: one pass over a labelled set keeps a record per sample; every figure comes from those records.

`evaluate(models, data, tta=...)` runs one or several `TrainedModel`s (an ensemble: softmax
averaged, VGG §4.4) over an `EvalData` with the papers' test-time augmentation and returns an
`Evaluation`: per-sample records (index, true class, prediction, p(prediction), p(true),
top-5) and the averaged probabilities, from which top-1/top-5, the C×C confusion matrix,
per-class precision/recall/F1, the largest confusions and the images of one cell follow.

`validation_data(run)` rebuilds exactly the validation split a run trained with, through the
trainer's own `load_training_data(config)` (its dataset, seed, fraction and class list), so
`evaluate(..., tta="none")` reproduces the validation top-1 the run recorded for that
checkpoint. `eval_data(name_or_path, ...)` is another image folder (all of it, or its `val/`
part) or a torchvision dataset's test split, labelled in the run's class order.

Test-time augmentation (`TTA_MODES`), S being the network's input size:
- "none": the validation transform (shorter side to S, centre square).
- "flip": that and its mirror image.
- "tencrop": AlexNet's ten S×S crops (four corners + centre, and their mirrors) of the image
  at 256/224·S.
- "multiscale": VGG's multi-scale test, the whole image at Q ∈ {S₀−32, S₀, S₀+32} with S₀ =
  256/224·S the training scale (224, 256, 288 for a 224 network; 32 scales with S below 224).
  The networks' adaptive pooling takes a larger image whole, as VGG's dense evaluation does.
- "multiscale+tencrop": ten S×S crops at each of those scales (30 views).
Softmax is averaged over the views, then over the models.

Long calls take `progress(done, total)` and `cancel() -> bool` (raising `errors.Cancelled`),
so the window can run them as background jobs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from cnnstudio.choices import TestTime

from cnnstudio.data.loaders import ImageSet
from cnnstudio.data.transforms import crop_source_size
from cnnstudio.errors import Cancelled, CnnStudioError, DatasetError, UnknownNameError
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.progress import CancelFn, ProgressFn

if TYPE_CHECKING:
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.store.runs import RunInfo

__all__ = [
    "NORMALISATIONS",
    "RECORD_DTYPE",
    "TTA_MODES",
    "ClassMetrics",
    "Confusion",
    "EnsembleError",
    "EvalData",
    "Evaluation",
    "check_same_classes",
    "combine",
    "compare",
    "eval_data",
    "evaluate",
    "load_eval_data",
    "multiscale_sizes",
    "split_data",
    "validation_data",
]

TTA_MODES = TestTime.values()  # the choice itself lives in choices.py (the CLI lists it without torch)
NORMALISATIONS = ("none", "true", "pred", "all")
TOP_K = 5



def _record_dtype(k: int) -> np.dtype:
    return np.dtype([("index", np.int64), ("true", np.int32), ("pred", np.int32), ("p_pred", np.float32),
                     ("p_true", np.float32), ("top5", np.int32, (k,))])


#: One sample's record; `top5` holds min(5, classes) class indices, most likely first.
RECORD_DTYPE = _record_dtype(TOP_K)


class EnsembleError(CnnStudioError, ValueError):
    """Models that cannot be averaged: different class lists, or different validation splits."""


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class EvalData:
    """A labelled set to evaluate on: uint8 images (in memory or streamed from files) and labels.

    `labels` are indices into `classes`, which is the evaluated run's class list;
    `description` says in words what the set is ("the validation split of mnist-sample …").
    """

    images: ImageSet
    classes: tuple[str, ...]
    description: str
    # The whole set already through a model's validation transform, per (spec, size, channels,
    # device): evaluating the same split again (each epoch, each TTA row) slices it, as the
    # trainer's DeviceLoader does. Only sets whose converted copy fits CONVERTED_BUDGET.
    _converted: dict[tuple[Any, ...], torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> torch.Tensor:
        return self.images.labels

    def image(self, index: int) -> np.ndarray:
        """Sample `index` as stored (before the model's transform): uint8 H×W×C."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} is outside 0..{len(self) - 1}")
        if self.images.images is not None:
            chw = self.images.images[index]
        else:
            chw, _ = self._files()[index]
        return chw.permute(1, 2, 0).contiguous().numpy()

    def _files(self) -> Any:
        from cnnstudio.data.folders import FolderDataset

        s = self.images
        return FolderDataset(s.paths, s.labels, store_size=s.store_size, channels=s.channels, cache_dir=s.cache_dir)

    def model_inputs(self, trained: TrainedModel, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(dataset indices, normalised model input) per batch: `trained`'s validation transform."""
        from cnnstudio.data.loaders import CONVERTED_BUDGET

        images = self.images.images
        size = trained.input_size
        if images is None or len(self) * trained.in_channels * size * size * 4 > CONVERTED_BUDGET:
            for index, batch, _labels in self.batches(batch_size):
                yield index, trained.to_input(batch)
            return
        spec = trained.spec
        key = (spec.mean, spec.std, size, trained.in_channels, str(trained.device))
        converted = self._converted.get(key)
        if converted is None:
            converted = torch.cat([trained.to_input(images[i:i + 1024]) for i in range(0, len(self), 1024)])
            self._converted.clear()  # one model's copy at a time: an ensemble of sizes would pile up
            self._converted[key] = converted
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            yield torch.arange(start, stop), converted[start:stop]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(dataset indices, uint8 N×C×H×W, labels) in order; files broken since the scan are left out."""
        n = len(self)
        if self.images.images is not None:
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                yield torch.arange(start, stop), self.images.images[start:stop], self.images.labels[start:stop]
            return
        workers = min(4, os.cpu_count() or 1)
        loader = torch.utils.data.DataLoader(self._files(), batch_size=batch_size, shuffle=False, num_workers=workers)
        start = 0
        for images, labels in loader:
            index = torch.arange(start, start + labels.numel())
            start += labels.numel()
            good = labels >= 0
            if not bool(good.all()):
                index, images, labels = index[good], images[good], labels[good]
            if labels.numel():
                yield index, images, labels


def _split_key(config: TrainConfig) -> tuple[Any, ...]:
    """What decides a run's validation split: torchvision sets use their test split whatever the seed."""
    from cnnstudio.data import catalog

    try:
        if catalog.get_info(config.dataset).downloadable:
            return (config.dataset,)
    except UnknownNameError:
        pass
    return (config.dataset, config.val_fraction, config.seed)


def _describe_split(config: TrainConfig, n: int) -> str:
    from cnnstudio.data import catalog

    try:
        if catalog.get_info(config.dataset).downloadable:
            return f"the test split of {config.dataset} ({n:,} images)"
    except UnknownNameError:
        pass
    return (f"the validation split of {config.dataset} ({n:,} images; seed {config.seed}, "
            f"{config.val_fraction * 100:g} % held out)")


def _remap_labels(labels: torch.Tensor, have: Sequence[str], want: Sequence[str], where: str) -> torch.Tensor:
    """Labels indexing `have` as indices into `want`; DatasetError naming the classes that differ."""
    if tuple(have) == tuple(want):
        return labels
    missing, extra = [c for c in want if c not in have], [c for c in have if c not in want]
    if missing or extra:
        parts = []
        if extra:
            parts.append(f"{where} has {_names(extra)} that the run does not know")
        if missing:
            parts.append(f"{where} lacks {_names(missing)}")
        raise DatasetError(f"{'; '.join(parts)} — evaluate on images of the run's own classes")
    lookup = torch.tensor([list(want).index(c) for c in have], dtype=torch.int64)
    return lookup[labels]


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"class{'es' if len(names) > 1 else ''} {shown}{more}"


def validation_data(run: RunInfo | str | Path | TrainConfig, *, classes: Sequence[str] | None = None,
                    progress: ProgressFn | None = None,
                    cancel: CancelFn | None = None) -> EvalData:
    """Exactly the validation split `run` trained with (its dataset, seed, fraction), as the trainer loads it.

    `run` is a run folder (or its `RunInfo`), or a `TrainConfig` with `classes` (a live fit).
    A folder whose classes changed since the run is refused, naming the difference.
    """
    return split_data(run, "val", classes=classes, progress=progress, cancel=cancel)


def split_data(run: RunInfo | str | Path | TrainConfig, split: str = "val", *, classes: Sequence[str] | None = None,
               progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> EvalData:
    """The training ("train") or validation ("val") split of `run`, loaded by the trainer's own code path."""
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.store.runs import RunInfo, open_run
    from cnnstudio.training.fit.training_data import load_training_data

    if split not in ("train", "val"):
        raise UnknownNameError(f"unknown split {split!r}: choose train or val")
    if isinstance(run, TrainConfig):
        config, run_classes = run, tuple(classes) if classes is not None else None
    else:
        info = run if isinstance(run, RunInfo) else open_run(run)
        config, run_classes = info.config, info.spec.classes
    bundle = load_training_data(config.validate(), progress=progress, cancel=cancel)
    run_classes = run_classes or bundle.spec.classes
    part = bundle.val if split == "val" else bundle.train
    labels = _remap_labels(part.labels, bundle.spec.classes, run_classes, f"{config.dataset} now")
    images = ImageSet(labels, part.images, paths=part.paths, store_size=part.store_size, channels=part.channels,
                      cache_dir=part.cache_dir)
    if split == "val":
        description = _describe_split(config, len(labels))
    else:
        description = f"the training split of {config.dataset} ({len(labels):,} images)"
    return EvalData(images, tuple(run_classes), description)


def eval_data(name_or_path: str | os.PathLike[str], classes: Sequence[str], *, store_size: int = 256,
              root: str | os.PathLike[str] | None = None, progress: ProgressFn | None = None,
              cancel: CancelFn | None = None) -> EvalData:
    """Another labelled set, in the order of `classes` (the run's): a folder or a built-in dataset.

    A folder is used whole (or only its `val/` part when it has `train/` and `val/`), images
    kept as `store_size` squares; a torchvision dataset gives its official test split,
    mnist-sample its default validation split. Classes that differ from `classes` are refused.
    """
    from cnnstudio.data import catalog

    text = os.fspath(name_or_path)
    try:
        catalog.get_info(text)
    except UnknownNameError:
        return _folder_data(text, classes, store_size=store_size, progress=progress, cancel=cancel)
    from cnnstudio.data.loaders import load_dataset

    bundle = load_dataset(text, root=root, progress=progress, cancel=cancel)
    labels = _remap_labels(bundle.val.labels, bundle.spec.classes, classes, text)
    split = "test split" if catalog.get_info(text).downloadable else "validation split (seed 0, 10 %)"
    return EvalData(ImageSet(labels, bundle.val.images), tuple(classes), f"the {split} of {text} ({len(labels):,} images)")


def _folder_data(path: str, classes: Sequence[str], *, store_size: int,
                 progress: ProgressFn | None, cancel: CancelFn | None) -> EvalData:
    from cnnstudio.data.folders import array_to_chw, scan_folder

    scan = scan_folder(path, store_size=store_size, progress=progress, cancel=cancel)
    part, which = (scan.val, "the val/ folder of") if scan.val is not None else (scan.train, "the folder")
    labels = _remap_labels(torch.tensor(part.labels, dtype=torch.int64), scan.classes, classes, f"{path}")
    if scan.in_memory:
        images = torch.stack([array_to_chw(a, scan.channels) for a in part.arrays])
        imageset = ImageSet(labels, images)
    else:
        imageset = ImageSet(labels, paths=tuple(part.paths), store_size=store_size, channels=scan.channels)
    return EvalData(imageset, tuple(classes), f"{which} {scan.report.root} ({len(labels):,} images)")


def _store_size(tta: str, input_size: int) -> int:
    """The side images are kept at for a TTA mode: the largest view's source."""
    if tta.startswith("multiscale"):
        return max(multiscale_sizes(input_size))
    if tta == "tencrop":
        return crop_source_size(input_size)
    return input_size


def load_eval_data(models: Sequence[TrainedModel], data: str | os.PathLike[str] | None = None, *,
                   tta: str = "none", progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None) -> EvalData:
    """The set `evaluate` should use for saved runs: their validation split, or `data` when given.

    Runs in an ensemble must share that split (same dataset, seed and fraction), else their
    training images would be scored as validation images; `data` (a folder or test split)
    then evaluates them on common ground.
    """
    models = list(models)
    check_same_classes(models)
    first = models[0]
    # The run's own dataset named again (mnist-sample, cifar10) means its split; a folder given
    # as --data is taken whole (or its val/), whatever the runs trained on.
    if data is None or (first.config is not None and os.fspath(data) == first.config.dataset
                        and _is_catalog_name(first.config.dataset)):
        configs = [m.config for m in models]
        if any(c is None for c in configs):
            raise CnnStudioError("live weights have no stored split: give the data to evaluate on")
        keys = {_split_key(c) for c in configs}
        if len(keys) > 1:
            a, b = models[0], next(m for m in models if _split_key(m.config) != _split_key(first.config))
            raise EnsembleError(
                f"{a.name} and {b.name} were validated on different splits "
                f"({_describe_key(a.config)} vs {_describe_key(b.config)}) — give --data (a folder or a test split) "
                "to evaluate both on one set"
            )
        return validation_data(first.config, classes=first.classes, progress=progress, cancel=cancel)
    size = max(_store_size(tta, m.input_size) for m in models)
    root = first.config.data_root if first.config is not None else None
    return eval_data(data, first.classes, store_size=size, root=root, progress=progress, cancel=cancel)


def _is_catalog_name(name: str) -> bool:
    from cnnstudio.data import catalog

    try:
        catalog.get_info(name)
    except UnknownNameError:
        return False
    return True


def _describe_key(config: TrainConfig) -> str:
    return f"{config.dataset}, seed {config.seed}, {config.val_fraction * 100:g} % held out"


# ---------------------------------------------------------------------------- the pass


def check_same_classes(models: Sequence[TrainedModel]) -> None:
    """Refuse an ensemble whose members know different classes, naming the difference."""
    if not models:
        raise CnnStudioError("nothing to evaluate: give at least one run")
    first = models[0]
    for other in models[1:]:
        if set(other.classes) == set(first.classes):
            continue
        only_first = [c for c in first.classes if c not in other.classes]
        only_other = [c for c in other.classes if c not in first.classes]
        parts = []
        if only_first:
            parts.append(f"only {first.name or 'the first'} has {_names(only_first)}")
        if only_other:
            parts.append(f"only {other.name or 'another'} has {_names(only_other)}")
        raise EnsembleError(f"cannot average runs trained on different classes: {'; '.join(parts)}")


def multiscale_sizes(input_size: int) -> tuple[int, int, int]:
    """VGG's test scales Q ∈ {S₀−32, S₀, S₀+32}, S₀ = 256/224 of the input (32 scaled with it)."""
    base = crop_source_size(input_size)
    step = max(1, round(32 * input_size / 224))
    return (max(input_size, base - step), base, base + step)


def _sources(trained: TrainedModel, data: EvalData, tta: str,
             batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(indices, batch) to make views of: model inputs for "none"/"flip", uint8 images otherwise."""
    if tta in ("none", "flip"):
        yield from data.model_inputs(trained, batch_size)
    else:
        for index, images, _labels in data.batches(batch_size):
            yield index, images


def _views(trained: TrainedModel, batch: torch.Tensor, tta: str) -> Iterator[torch.Tensor]:
    """The normalised model inputs a TTA mode makes of one batch (crops and flips commute with
    the per-channel normalisation, so they are cut from the normalised image). "none" and
    "flip" get model inputs already, the others uint8 images."""
    size = trained.input_size
    if tta == "none":
        yield batch
    elif tta == "flip":
        x = batch
        yield x
        yield x.flip(-1)
    elif tta == "tencrop":
        yield from _ten_crops(trained.to_input(batch, input_size=crop_source_size(size)), size)
    elif tta == "multiscale":
        for q in multiscale_sizes(size):
            yield trained.to_input(batch, input_size=q)
    elif tta == "multiscale+tencrop":
        for q in multiscale_sizes(size):
            yield from _ten_crops(trained.to_input(batch, input_size=q), size)
    else:
        raise UnknownNameError(f"unknown test-time augmentation {tta!r}: choose from {', '.join(TTA_MODES)}")


def _autocast(trained: TrainedModel) -> Any:
    """The trainer's validation precision (the fit's one AMP rule, `training.fit.step.amp_dtype`),
    so a run's recorded validation top-1 is reproduced on the device it trained on too."""
    from cnnstudio.training.fit.step import amp_dtype, autocast

    return autocast(amp_dtype(trained.device, trained.config is not None and trained.config.amp))


def _ten_crops(x: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    # Contiguous copies: a strided crop view runs the convolutions several times slower.
    for crop in TF.ten_crop(x, [size, size]):
        yield crop.contiguous()


def _model_probs(trained: TrainedModel, data: EvalData, tta: str, *, batch_size: int,
                 tick: Callable[[int], None]) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities N×C in `data.classes` order on the CPU, dataset indices kept) for one model."""
    model = trained.model
    was_training = model.training
    device = trained.device
    order = None
    if tuple(trained.classes) != tuple(data.classes):  # same classes, another order (checked before)
        order = torch.tensor([trained.classes.index(c) for c in data.classes], device=device)
    chunks: list[torch.Tensor] = []
    kept: list[torch.Tensor] = []
    try:
        model.eval()
        with torch.inference_mode(), _autocast(trained):
            for index, source in _sources(trained, data, tta, batch_size):
                tick(0)
                total = None
                views = 0
                for x in _views(trained, source, tta):
                    p = torch.softmax(model(x).float(), dim=1)
                    total = p if total is None else total.add_(p)
                    views += 1
                probs = total if views == 1 else total.div_(views)
                chunks.append(probs if order is None else probs.index_select(1, order))
                kept.append(index)
                tick(int(index.numel()))
    finally:
        model.train(was_training)
    num_classes = len(data.classes)
    probs = torch.cat(chunks).cpu() if chunks else torch.empty(0, num_classes)
    return probs, torch.cat(kept) if kept else torch.empty(0, dtype=torch.int64)


def evaluate(models: TrainedModel | Sequence[TrainedModel], data: EvalData, *, tta: str = "none",
             batch_size: int = 256, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Evaluation:
    """One pass of each model over `data` with test-time augmentation `tta`; an ensemble averages softmax.

    `progress(done, total)` counts images (times models); `cancel()` returning True raises
    `errors.Cancelled` before the next batch. The models are put in eval mode for the pass
    and restored after; their weights are never changed.
    """
    members = [models] if isinstance(models, TrainedModel) else list(models)
    check_same_classes(members)
    if tta not in TTA_MODES:
        raise UnknownNameError(f"unknown test-time augmentation {tta!r}: choose from {', '.join(TTA_MODES)}")
    if batch_size < 1:
        raise CnnStudioError(f"the batch size must be at least 1; got {batch_size}")
    for member in members:
        if member.in_channels not in (1, 3):
            raise CnnStudioError(f"{member.name or 'the model'} takes {member.in_channels}-channel images")
    started = time.perf_counter()
    total = len(data) * len(members)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        if n == 0:
            if cancel is not None and cancel():
                raise Cancelled("evaluation cancelled")
            return
        done += n
        if progress is not None:
            progress(done, total, "evaluating")

    summed = None
    kept = torch.empty(0, dtype=torch.int64)
    for member in members:
        probs, kept = _model_probs(member, data, tta, batch_size=batch_size, tick=tick)
        summed = probs if summed is None else summed.add_(probs)
    assert summed is not None
    probs = summed if len(members) == 1 else summed.div_(len(members))
    labels = data.labels.index_select(0, kept) if kept.numel() else data.labels[:0]
    return Evaluation.from_probs(probs.numpy(), labels.numpy(), kept.numpy(), classes=data.classes, tta=tta,
                                 models=tuple(m.name for m in members), data=data,
                                 seconds=time.perf_counter() - started)


def combine(evaluations: Sequence[Evaluation], *, name: str = "ensemble") -> Evaluation:
    """The ensemble of evaluations already made on the same samples: their probabilities averaged."""
    if not evaluations:
        raise CnnStudioError("nothing to combine")
    first = evaluations[0]
    for other in evaluations[1:]:
        if other.classes != first.classes or not np.array_equal(other.records["index"], first.records["index"]):
            raise EnsembleError("these evaluations did not score the same samples in the same class order")
    probs = np.mean([e.probs for e in evaluations], axis=0, dtype=np.float64).astype(np.float32)
    ttas = {e.tta for e in evaluations}
    return Evaluation.from_probs(probs, first.records["true"].astype(np.int64), first.records["index"],
                                 classes=first.classes, tta=ttas.pop() if len(ttas) == 1 else "mixed",
                                 models=(name,), data=first.data, seconds=sum(e.seconds for e in evaluations))


@dataclass(frozen=True)
class ComparisonRow:
    """One line of a VGG Tables 3–5 style comparison: who, which test-time setting, the accuracies."""

    model: str
    tta: str
    top1: float
    top5: float | None
    samples: int


def compare(models: Sequence[TrainedModel], data: EvalData, ttas: Sequence[str], *, batch_size: int = 256,
            progress: ProgressFn | None = None,
            cancel: CancelFn | None = None) -> tuple[list[ComparisonRow], dict[tuple[str, str], Evaluation]]:
    """Every model under every TTA setting, plus the ensemble of all models per setting (no extra pass)."""
    members = list(models)
    check_same_classes(members)
    total = len(data) * len(members) * len(ttas)
    offset = 0
    results: dict[tuple[str, str], Evaluation] = {}
    rows: list[ComparisonRow] = []

    def shifted(done: int, _total: int, message: str) -> None:
        if progress is not None:
            progress(offset + done, total, message)

    for tta in ttas:
        runs = []
        for member in members:
            ev = evaluate(member, data, tta=tta, batch_size=batch_size, progress=shifted, cancel=cancel)
            offset += len(data)
            results[(member.name, tta)] = ev
            runs.append(ev)
            rows.append(ComparisonRow(member.name, tta, ev.top1, ev.top5, ev.samples))
        if len(runs) > 1:
            ens = combine(runs, name=f"ensemble of {len(runs)}")
            results[("ensemble", tta)] = ens
            rows.append(ComparisonRow(f"ensemble of {len(runs)}", tta, ens.top1, ens.top5, ens.samples))
    return rows, results


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class; None where the fraction is 0/0 (shown as "–")."""

    index: int
    name: str
    support: int  # samples of this class
    predicted: int  # samples predicted as this class
    correct: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class Confusion:
    """One off-diagonal cell: `count` samples of class `true` predicted as `pred`.

    `fraction` is of the true class's samples ("3.7 % of the cats were called dogs").
    """

    true: int
    pred: int
    true_name: str
    pred_name: str
    count: int
    fraction: float


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The outcome of one evaluation: per-sample records and the (averaged) probabilities.

    `records` is a structured numpy array of `RECORD_DTYPE`-like rows (`index` into the data,
    `true`, `pred`, `p_pred`, `p_true`, `top5`); `probs` is N×C float32. Everything else is
    computed from them on request.
    """

    classes: tuple[str, ...]
    records: np.ndarray
    probs: np.ndarray
    tta: str
    models: tuple[str, ...]
    data: EvalData | None = None
    seconds: float = 0.0

    @classmethod
    def from_probs(cls, probs: np.ndarray, labels: np.ndarray, indices: np.ndarray, *, classes: Sequence[str],
                   tta: str, models: tuple[str, ...], data: EvalData | None = None,
                   seconds: float = 0.0) -> Evaluation:
        """Records from probabilities N×C, true labels and dataset indices."""
        n, c = probs.shape if probs.ndim == 2 else (0, len(classes))
        k = min(TOP_K, c)
        records = np.zeros(n, dtype=_record_dtype(k))
        if n:
            tensor = torch.from_numpy(np.ascontiguousarray(probs, dtype=np.float32))
            top_p, top_i = tensor.topk(k, dim=1)
            true = torch.from_numpy(np.asarray(labels, dtype=np.int64))
            records["index"] = indices
            records["true"] = labels
            records["pred"] = top_i[:, 0].numpy()
            records["p_pred"] = top_p[:, 0].numpy()
            records["p_true"] = tensor.gather(1, true[:, None])[:, 0].numpy()
            records["top5"] = top_i.numpy()
        return cls(tuple(classes), records, np.asarray(probs, dtype=np.float32), tta, tuple(models), data, seconds)

    @property
    def samples(self) -> int:
        return int(self.records.shape[0])

    @property
    def top1(self) -> float:
        """Fraction of samples whose most likely class is the true one (0 for no samples)."""
        if not self.samples:
            return 0.0
        return float(np.mean(self.records["pred"] == self.records["true"]))

    @property
    def top5(self) -> float | None:
        """Fraction whose true class is among the five most likely; None below 5 classes (as the trainer)."""
        if len(self.classes) < TOP_K:
            return None
        if not self.samples:
            return 0.0
        return float(np.mean((self.records["top5"] == self.records["true"][:, None]).any(axis=1)))

    def confusion(self, normalise: str = "none") -> np.ndarray:
        """C×C matrix, rows = true class, columns = predicted; every class has a row even if empty.

        `normalise`: "none" (int64 counts), "true" (each row sums to 1), "pred" (each column),
        "all" (the whole matrix). An empty row or column stays 0 rather than 0/0.
        """
        c = len(self.classes)
        counts = np.bincount(self.records["true"].astype(np.int64) * c + self.records["pred"], minlength=c * c)
        matrix = counts.reshape(c, c).astype(np.int64)
        if normalise == "none":
            return matrix
        if normalise not in NORMALISATIONS:
            raise UnknownNameError(f"unknown normalisation {normalise!r}: choose from {', '.join(NORMALISATIONS)}")
        m = matrix.astype(np.float64)
        if normalise == "true":
            den = m.sum(axis=1, keepdims=True)
        elif normalise == "pred":
            den = m.sum(axis=0, keepdims=True)
        else:
            den = np.array([[m.sum()]])
        return np.divide(m, den, out=np.zeros_like(m), where=den > 0)

    def class_metrics(self) -> tuple[ClassMetrics, ...]:
        """Per class: support, predictions, precision = TP/predicted, recall = TP/support,
        F1 = 2TP/(2TP+FP+FN); None where the denominator is 0."""
        matrix = self.confusion()
        support, predicted, correct = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
        out = []
        for i, name in enumerate(self.classes):
            tp, s, p = int(correct[i]), int(support[i]), int(predicted[i])
            out.append(ClassMetrics(i, name, s, p, tp, _ratio(tp, p), _ratio(tp, s), _ratio(2 * tp, s + p)))
        return tuple(out)

    def top_confusions(self, n: int = 10) -> tuple[Confusion, ...]:
        """The `n` largest off-diagonal cells, largest first (ties: by true, then predicted class)."""
        matrix = self.confusion()
        support = matrix.sum(axis=1)
        cells = [(int(matrix[t, p]), t, p) for t in range(matrix.shape[0]) for p in range(matrix.shape[1])
                 if t != p and matrix[t, p] > 0]
        cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
        return tuple(Confusion(t, p, self.classes[t], self.classes[p], count, count / int(support[t]))
                     for count, t, p in cells[:n])

    def cell(self, true: int | str, pred: int | str) -> np.ndarray:
        """Dataset indices of the samples of class `true` predicted as `pred`, most confident first.

        Off the diagonal that is "the most confident mistakes first"; `image(index)` shows one.
        """
        t, p = self.class_index(true), self.class_index(pred)
        rows = self.records[(self.records["true"] == t) & (self.records["pred"] == p)]
        order = np.argsort(-rows["p_pred"], kind="stable")
        return rows["index"][order]

    def record(self, index: int) -> np.void:
        """The record of dataset sample `index`."""
        where = np.nonzero(self.records["index"] == index)[0]
        if not where.size:
            raise IndexError(f"sample {index} was not evaluated")
        return self.records[where[0]]

    def class_index(self, name_or_index: int | str) -> int:
        """A class given by name or index, checked."""
        if isinstance(name_or_index, (int, np.integer)):
            if not 0 <= int(name_or_index) < len(self.classes):
                raise UnknownNameError(f"class index {name_or_index} is outside 0..{len(self.classes) - 1}")
            return int(name_or_index)
        if name_or_index not in self.classes:
            shown = ", ".join(self.classes[:20]) + (f" … ({len(self.classes)} classes)" if len(self.classes) > 20 else "")
            raise UnknownNameError(f"no class {name_or_index!r}: the classes are {shown}")
        return self.classes.index(name_or_index)

    def image(self, index: int) -> np.ndarray:
        """The stored image of dataset sample `index` (uint8 H×W×C, before the model's transform)."""
        if self.data is None:
            raise CnnStudioError("this evaluation keeps no images")
        return self.data.image(index)

    def to_dict(self, *, with_records: bool = True) -> dict[str, Any]:
        """Everything as JSON-able values (None for 0/0)."""
        out: dict[str, Any] = {
            "models": list(self.models),
            "tta": self.tta,
            "data": self.data.description if self.data is not None else None,
            "samples": self.samples,
            "top1": self.top1,
            "top5": self.top5,
            "classes": list(self.classes),
            "confusion": self.confusion().tolist(),
            "per_class": [
                {"class": m.name, "support": m.support, "predicted": m.predicted, "correct": m.correct,
                 "precision": m.precision, "recall": m.recall, "f1": m.f1} for m in self.class_metrics()
            ],
            "top_confusions": [
                {"true": c.true_name, "pred": c.pred_name, "count": c.count, "fraction_of_true": c.fraction}
                for c in self.top_confusions()
            ],
            "seconds": self.seconds,
        }
        if with_records:
            r = self.records
            out["records"] = {
                "index": r["index"].tolist(), "true": r["true"].tolist(), "pred": r["pred"].tolist(),
                "p_pred": [round(float(v), 6) for v in r["p_pred"]],
                "p_true": [round(float(v), 6) for v in r["p_true"]], "top5": r["top5"].tolist(),
            }
        return out
