"""Nearest neighbours by the last hidden layer (AlexNet §6.1): images the network thinks alike.

A feature vector is what enters the classifier's last `nn.Linear` (AlexNet's and VGG's
4096-d fc7 output, GoogLeNet's 1024-d pooled features, LeNet-5's 84-d F6), taken in eval
mode. A run's training (or validation) set is extracted once per checkpoint and cached in
the run folder as a plain `.npy` (no pickle), written atomically, its name keyed on the
checkpoint file (size and modification time) and the split, so a retrained or resumed run
never reuses stale vectors. The search is exact Euclidean k-NN in torch fp32:
d² = ‖q‖² − 2q·Xᵀ + ‖x‖², then top-k.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnstudio.errors import Cancelled, CnnStudioError
from cnnstudio.inspect.evaluate import EvalData, split_data
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.inspect.pictures import caption_grid
from cnnstudio.progress import ProgressFn

__all__ = ["FEATURES_FOLDER", "FeatureBank", "Neighbours", "cached_features", "extract_features", "feature_layer",
           "neighbour_grid", "run_feature_bank"]

FEATURES_FOLDER = "features"


def feature_layer(model: nn.Module) -> nn.Linear:
    """The classifier's last `nn.Linear`; its input is the feature vector."""
    head = getattr(model, "classifier", None)
    pool = head if isinstance(head, nn.Module) else model
    linears = [m for m in pool.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise CnnStudioError(f"{type(model).__name__} has no linear classifier layer to take features from")
    return linears[-1]


def query_features(trained: TrainedModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features 1×D, softmax C) of one model input `x` (1×C×S×S), as `extract_features` takes
    them: the input of the classifier's last Linear, eval mode, the hook removed whatever happens."""
    model = trained.model
    caught: list[torch.Tensor] = []
    handle = feature_layer(model).register_forward_pre_hook(lambda _m, inputs: caught.append(inputs[0]))
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            probs = torch.softmax(model(x).float(), dim=1)[0]
    finally:
        handle.remove()
        model.train(was_training)
    return caught[0].flatten(1).float().cpu(), probs.cpu()


def extract_features(trained: TrainedModel, data: EvalData, *, batch_size: int = 256,
                     progress: ProgressFn | None = None,
                     cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """N×D float32 feature vectors of every sample of `data` (validation transform, eval mode).

    Samples are in `data`'s order (a file broken since the scan gets a row of zeros). The
    model's mode is restored and the hook removed whatever happens.
    """
    model = trained.model
    layer = feature_layer(model)
    caught: list[torch.Tensor] = []

    def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        caught.append(inputs[0].flatten(1).float())

    out: torch.Tensor | None = None
    done = 0
    was_training = model.training
    handle = layer.register_forward_pre_hook(hook)
    try:
        model.eval()
        with torch.inference_mode():
            for index, x in data.model_inputs(trained, batch_size):
                if cancel is not None and cancel():
                    raise Cancelled("feature extraction cancelled")
                model(x)
                features = caught.pop()
                if out is None:
                    out = torch.zeros(len(data), features.shape[1], dtype=torch.float32)
                out[index] = features.cpu()
                done += int(index.numel())
                if progress is not None:
                    progress(done, len(data), "features")
    finally:
        handle.remove()
        model.train(was_training)
    if out is None:
        return np.zeros((0, layer.in_features), dtype=np.float32)
    return out.numpy()


def _cache_path(trained: TrainedModel, split: str, data: EvalData) -> Path | None:
    if trained.run_dir is None or trained.checkpoint is None:
        return None
    try:
        stat = trained.checkpoint.stat()
    except OSError:
        return None
    folder = Path(trained.run_dir) / FEATURES_FOLDER
    if folder.is_symlink():
        return None  # not the run's own folder: the cache is neither read nor written through a link
    key = f"{trained.checkpoint.name}|{stat.st_size}|{stat.st_mtime_ns}|{split}|{len(data)}|{trained.input_size}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return folder / f"{split}-{trained.checkpoint.stem}-{digest}.npy"


def cached_features(trained: TrainedModel, data: EvalData, *, split: str, batch_size: int = 256,
                    progress: ProgressFn | None = None,
                    cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """`extract_features`, read from the run folder's cache when this checkpoint's vectors are there.

    Live weights (no run folder) are extracted every time. A cache file that does not match
    (wrong shape, damaged) is recomputed; older caches of the same split and checkpoint name
    are removed once the new one is written.
    """
    from cnnstudio.files import atomic_write, read_npy

    path = _cache_path(trained, split, data)
    if path is not None and path.exists():
        try:
            # The header is checked before anything is allocated; a FIFO or a folder is refused unread.
            return read_npy(path, shape=(len(data), feature_layer(trained.model).in_features), dtype="float32",
                            max_bytes=len(data) * feature_layer(trained.model).in_features * 4)
        except (OSError, ValueError):
            pass  # damaged: extracted again below
    features = extract_features(trained, data, batch_size=batch_size, progress=progress, cancel=cancel)
    if path is not None:
        buffer = io.BytesIO()
        np.save(buffer, features, allow_pickle=False)
        payload = buffer.getvalue()
        try:
            atomic_write(path, lambda handle: handle.write(payload), size_estimate=len(payload))
        except CnnStudioError:
            return features  # a cache that cannot be written only costs time
        for old in ([] if path.parent.is_symlink() else path.parent.glob(f"{split}-{trained.checkpoint.stem}-*.npy")):
            if old != path and old.is_file() and not old.is_symlink():  # only our own cache files
                try:
                    old.unlink()
                except OSError:
                    pass  # an old cache that stays only costs disk space
    return features


@dataclass(frozen=True)
class Neighbours:
    """The k nearest bank rows of each query: indices and Euclidean distances, Q×k, nearest first."""

    indices: np.ndarray
    distances: np.ndarray


class FeatureBank:
    """Feature vectors (N×D) held once as an fp32 tensor with their squared norms, for exact k-NN."""

    def __init__(self, features: np.ndarray | torch.Tensor, *, device: str | torch.device = "cpu") -> None:
        x = torch.as_tensor(features, dtype=torch.float32, device=device)
        if x.dim() != 2:
            raise CnnStudioError(f"a feature bank needs N×D vectors; got shape {tuple(x.shape)}")
        self.features = x.contiguous()
        self.norms = self.features.square().sum(dim=1)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def query(self, queries: np.ndarray | torch.Tensor, k: int = 8, *,
              exclude: int | Sequence[int] | None = None, exclude_self: bool = False) -> Neighbours:
        """The `k` nearest rows to each query (D or Q×D).

        `exclude` leaves out bank rows by index (the query itself when it is one of them);
        `exclude_self` leaves out rows with the very same vector as the query (a query file
        that is one of the bank's images), within fp32 rounding.
        """
        if k < 1:
            raise CnnStudioError(f"k must be at least 1; got {k}")
        q = torch.as_tensor(queries, dtype=torch.float32, device=self.features.device)
        q = q[None] if q.dim() == 1 else q
        if q.shape[1] != self.features.shape[1]:
            raise CnnStudioError(f"queries have {q.shape[1]} features, the bank {self.features.shape[1]}")
        q_norms = q.square().sum(dim=1, keepdim=True)
        d2 = torch.addmm(self.norms[None, :], q, self.features.T, alpha=-2.0).add_(q_norms).clamp_(min=0)
        if exclude is not None:
            rows = torch.as_tensor([exclude] if isinstance(exclude, (int, np.integer)) else list(exclude),
                                   dtype=torch.int64, device=d2.device)
            if rows.numel():
                d2[:, rows] = float("inf")
        if exclude_self:
            d2.masked_fill_(d2 <= 1e-5 * (q_norms + 1e-12), float("inf"))
        k = min(k, len(self))
        values, indices = d2.topk(k, dim=1, largest=False)
        keep = torch.isfinite(values)
        return Neighbours(np.where(keep.cpu().numpy(), indices.cpu().numpy(), -1),
                          values.sqrt().cpu().numpy())


def run_feature_bank(trained: TrainedModel, *, split: str = "train", data: EvalData | None = None,
                     progress: ProgressFn | None = None,
                     cancel: Callable[[], bool] | None = None) -> tuple[FeatureBank, EvalData]:
    """The feature bank of a run's training (or validation) split, with the split's images and labels.

    `data` may be given when the split is already loaded (the window has it); else it is
    rebuilt through the trainer's own code path.
    """
    if data is None:
        if trained.config is None:
            raise CnnStudioError("live weights have no stored split: give the images to search")
        data = split_data(trained.config, split, classes=trained.classes)
    features = cached_features(trained, data, split=split, progress=progress, cancel=cancel)
    return FeatureBank(features, device=trained.device), data


def neighbour_grid(query: np.ndarray, query_caption: str, images: Sequence[np.ndarray], captions: Sequence[str],
                   *, tile: int = 112, columns: int = 9) -> np.ndarray:
    """The query and its neighbours as one picture, a caption under each tile: uint8 H×W×3."""
    return caption_grid([query, *images], [query_caption, *captions], tile=tile, columns=columns, outline=0)
