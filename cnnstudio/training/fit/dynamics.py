"""The dynamics recorder: how every layer's activations and gradients behave as the fit goes.

An observer of the fit's step hooks (rank 0 only; its failures end the recording with a
notice, never the training). For each layer of the model's layer graph that has weights or
is a block or head output — conv, linear, BatchNorm, Inception/multi-scale block, aux head —
it keeps, at sampled steps:

- its activation (the layer's output after the nonlinearity that follows it, when one does):
  mean, std, the share **saturated** (a sigmoid/tanh within 2 % of a bound), the share
  **zero** and the share of **dead** channels (zero for every input of the batch) behind a
  ReLU, whether anything was non-finite, and a 40-bin histogram on a range fixed at the
  layer's first sample (fastai's "colorful dimension");
- its weights: the gradient's norm (unscaled), the weights' norm, and the update ratio
  ‖Δw‖/‖w‖ of the optimizer's step (Karpathy's ~1e-3 rule);
- a BatchNorm layer: its running variance ÷ the batch's (evaluation uses the running one);
- the step's loss and learning rate.

Sampling: every step of the first `EARLY_STEPS`, then at most `PER_EPOCH` evenly spaced steps
an epoch, and each epoch's last batch — and never more than `BUDGET` of the fit's time: a
step is skipped when the recorder's own time would pass it (so a tiny net on a CPU stays
within the budget too). Everything is computed on the device and read back once per sample.
Files: `training/store/dynamics.py`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cnnstudio.files import readable
from cnnstudio.models.graph import BOUNDED_ACTIVATIONS, RECTIFIERS, LayerNode, layer_graph
from cnnstudio.threads import single_threaded
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.store import dynamics as store

if TYPE_CHECKING:
    from cnnstudio.training.fit.step import StepOutput
    from cnnstudio.training.fit.trainer import Trainer
    from cnnstudio.training.records import EpochStats, FitResult, FitStart, StepInfo

__all__ = ["DynamicsRecorder", "recorded_rows"]

EARLY_STEPS = 20
PER_EPOCH = 50
FLUSH_EVERY = 25  # samples per chunk before an epoch's end writes the rest
BUDGET = 0.01  # the share of the fit's time the recorder's own calls may take (forced samples aside); its ops
# leave the fit's OpenMP team to re-form after them, a cost about as large again that they cannot time
SAMPLE_ELEMENTS = 16_384  # values of a layer's output the figures and the histogram are taken from
_ACT = ("act_mean", "act_std", "saturated", "zero", "dead")


def recorded_rows(model: nn.Module) -> list[tuple[LayerNode, str]]:
    """The recorded layers in network order, each with the module whose output is its
    activation: the first activation that follows it before the next recorded layer, or itself."""
    graph = layer_graph(model)
    rows: list[tuple[LayerNode, str]] = []
    leaves = [n for n in graph.nodes.values() if n.is_leaf]
    position = {n.name: i for i, n in enumerate(leaves)}

    def is_row(node: LayerNode) -> bool:
        if node.kind in ("conv", "linear", "block", "head"):
            return True
        return node.kind == "norm" and node.params > 0  # BatchNorm; LRN has no weights

    for node in graph.nodes.values():
        if not node.name or not is_row(node):
            continue
        source = node.name
        if node.is_leaf:
            for follower in leaves[position[node.name] + 1:]:
                if follower.parent != node.parent or is_row(follower):
                    break
                if follower.kind == "activation":
                    source = follower.name
                    break
        rows.append((node, source))
    return rows


def _activation_kind(module: nn.Module) -> str:
    if isinstance(module, BOUNDED_ACTIVATIONS):
        return "bounded"
    if isinstance(module, RECTIFIERS):
        return "rectifier"
    return "other"


def _bounds(module: nn.Module) -> tuple[float, float] | None:
    if isinstance(module, nn.Sigmoid):
        return (0.0, 1.0)
    if isinstance(module, nn.Tanh):
        return (-1.0, 1.0)
    if isinstance(module, nn.Hardtanh):
        return (float(module.min_val), float(module.max_val))
    return None


class DynamicsRecorder(Callback):
    """Records the run's training dynamics (see the module's docstring)."""

    observer = True
    rank_zero_only = True
    title = "the run's training dynamics recording"

    def __init__(self, *, early_steps: int = EARLY_STEPS, per_epoch: int = PER_EPOCH, budget: float = BUDGET) -> None:
        self.early_steps = early_steps
        self.per_epoch = per_epoch
        self.budget = budget
        self._samples: list[dict[str, Any]] = []
        self._handles: list[Any] = []
        self._active = False
        self._spent = 0.0  # seconds the recorder took
        self._started = 0.0

    # -- setup ------------------------------------------------------------------------------------

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        model = trainer.bare_model
        self.run_dir = trainer.run_dir
        rows = recorded_rows(model)
        self._rows = rows
        self._modules = {name: model.get_submodule(name) for node, src in rows for name in (node.name, src)}
        self._kinds = [_activation_kind(self._modules[src]) for _node, src in rows]
        self._bound = [_bounds(self._modules[src]) for _node, src in rows]
        # Whose gradient: a conv/linear/norm row's weight tensor; a block or head, all its weights.
        self._params: list[list[torch.Tensor]] = []
        for node, _src in rows:
            module = self._modules[node.name]
            if node.is_leaf:
                weight = getattr(module, "weight", None)
                self._params.append([weight] if isinstance(weight, nn.Parameter) and weight.requires_grad else [])
            else:
                self._params.append([p for p in module.parameters() if p.requires_grad])
        self._flat = [p for ps in self._params for p in ps]
        self._has_params = np.array([bool(ps) for ps in self._params], dtype=bool)
        self._owner = [i for i, ps in enumerate(self._params) for _ in ps]
        self._norm_rows = [i for i, (node, _src) in enumerate(rows) if isinstance(self._modules[node.name],
                                                                                   nn.modules.batchnorm._BatchNorm)]
        folder = store.dynamics_dir(self.run_dir)
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            # Its chunks would be written, and files removed, wherever the link points.
            raise ValueError(f"{readable(str(folder))} is not the run's own folder (a link or a file): "
                             "no dynamics are recorded")
        store.clean_temp_files(self.run_dir)
        saved = store.read_layers(self.run_dir)
        names = [node.name for node, _src in rows]
        if trainer.resume_point is not None and saved is not None and [m.name for m in saved] == names:
            self._ranges: list[tuple[float, float] | None] = [m.hist_range for m in saved]
            store.drop_after(self.run_dir, trainer.global_step)  # those steps are trained again
        else:
            self._ranges = [None] * len(rows)
            store.drop_after(self.run_dir, 0)  # a fresh start in this folder: no samples are its own
        self._layers_written = all(r is not None for r in self._ranges)
        self._started = time.monotonic()

    # -- sampling ---------------------------------------------------------------------------------

    def _wanted(self, step: StepInfo) -> bool:
        if step.global_step <= self.early_steps or step.batch == step.num_batches:
            return True
        every = max(1, math.ceil(step.num_batches / self.per_epoch))
        if (step.batch - 1) % every:
            return False
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return self._spent <= self.budget * elapsed

    def on_train_batch_start(self, trainer: Trainer, step: StepInfo) -> None:
        self._active = self._wanted(step)
        if not self._active:
            return
        began = time.perf_counter()
        self._acts: list[torch.Tensor | None] = [None] * len(self._rows)
        self._hists: list[torch.Tensor | None] = [None] * len(self._rows)
        self._bn: dict[int, torch.Tensor] = {}
        for i, (_node, src) in enumerate(self._rows):
            self._handles.append(self._modules[src].register_forward_hook(self._act_hook(i)))
        for i in self._norm_rows:
            self._handles.append(self._modules[self._rows[i][0].name].register_forward_pre_hook(self._bn_hook(i)))
        self._spent += time.perf_counter() - began

    def _act_hook(self, i: int) -> Any:
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
            began = time.perf_counter()
            if isinstance(out, tuple):
                out = out[0]
            if not isinstance(out, torch.Tensor) or out.numel() < 2:
                return
            with torch.no_grad(), single_threaded():
                out = out.detach()
                # The figures are shares and moments: an even spread of ≤ SAMPLE_ELEMENTS values
                # estimates them to well under a percent, at a fraction of a pass over a big map.
                flat = out.reshape(-1)
                x = flat[:: max(1, flat.numel() // SAMPLE_ELEMENTS)].float()
                std, mean = torch.std_mean(x)
                nan = torch.tensor(math.nan, device=x.device)
                saturated = zero = dead = nan
                if self._kinds[i] == "bounded":
                    low, high = self._bound[i]
                    margin = 0.02 * (high - low)
                    saturated = ((x <= low + margin) | (x >= high - margin)).float().mean()
                elif self._kinds[i] == "rectifier":
                    zero = (x <= 0).float().mean()
                    if out.dim() >= 2:  # a dead channel is zero for every input: over the whole batch
                        peak = out.amax(dim=[d for d in range(out.dim()) if d != 1])
                        dead = (peak <= 0).float().mean()
                self._acts[i] = torch.stack([mean, std, saturated, zero, dead])
                if self._ranges[i] is None:
                    self._ranges[i] = self._choose_range(i, x)
                low, high = self._ranges[i]
                self._hists[i] = torch.histc(torch.nan_to_num(x, nan=low).clamp_(low, high), bins=store.BINS,
                                             min=low, max=high)
            self._spent += time.perf_counter() - began
        return hook

    def _choose_range(self, i: int, x: torch.Tensor) -> tuple[float, float]:
        """The histogram's range, fixed at the layer's first sample (one sync, once per layer)."""
        if self._bound[i] is not None:
            return self._bound[i]
        finite = x[torch.isfinite(x)]
        if finite.numel() == 0:
            return (-1.0, 1.0)
        mean, std = float(finite.mean()), float(finite.std()) if finite.numel() > 1 else 1.0
        spread = max(4.0 * std, 1e-3)
        if self._kinds[i] == "rectifier":
            return (0.0, max(mean + spread, 1e-3))
        edge = abs(mean) + spread
        return (-edge, edge)

    def _bn_hook(self, i: int) -> Any:
        def hook(module: nn.Module, inputs: Any) -> None:
            began = time.perf_counter()
            x = inputs[0] if inputs else None
            running = getattr(module, "running_var", None)
            if isinstance(x, torch.Tensor) and x.dim() >= 2 and running is not None:
                with torch.no_grad(), single_threaded():
                    dims = [d for d in range(x.dim()) if d != 1]
                    batch_var = x.detach().float().var(dim=dims).clamp_min(1e-12)
                    self._bn[i] = (running.detach().float() / batch_var).median()
            self._spent += time.perf_counter() - began
        return hook

    def on_after_backward(self, trainer: Trainer, step: StepInfo) -> None:
        if not self._active:
            return
        began = time.perf_counter()
        self._remove_hooks()  # the forward pass is over
        with torch.no_grad(), single_threaded():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self._flat]
            self._grad_sq = self._per_row_sq(torch._foreach_norm(grads) if grads else [])
        self._spent += time.perf_counter() - began

    def on_before_optimizer_step(self, trainer: Trainer, step: StepInfo, optimizer: Any) -> None:
        if not self._active:
            return
        began = time.perf_counter()
        with torch.no_grad(), single_threaded():
            self._before = [p.detach().clone() for p in self._flat]
        self._spent += time.perf_counter() - began

    def on_train_batch_end(self, trainer: Trainer, step: StepInfo, output: StepOutput) -> None:
        if not self._active:
            return
        began = time.perf_counter()
        self._active = False
        with torch.no_grad(), single_threaded():
            after = [p.detach() for p in self._flat]
            if after:
                weight_sq = self._per_row_sq(torch._foreach_norm(after))
                delta_sq = self._per_row_sq(torch._foreach_norm(torch._foreach_sub(after, self._before)))
            else:
                weight_sq = delta_sq = []
            self._before = []
            device = output.loss.device
            nan5 = torch.full((5,), math.nan, device=device)
            acts = torch.stack([a if a is not None else nan5 for a in self._acts]) if self._acts else torch.zeros((0, 5))
            zeros = torch.zeros(store.BINS, device=device)
            hists = torch.stack([h if h is not None else zeros for h in self._hists]) if self._hists else zeros[None]
            per_row = torch.full((len(self._rows), 4), math.nan, device=device)  # grad², weight², delta², bn
            for i in range(len(self._rows)):
                if self._params[i]:
                    per_row[i, 0], per_row[i, 1], per_row[i, 2] = self._grad_sq[i], weight_sq[i], delta_sq[i]
                if i in self._bn:
                    per_row[i, 3] = self._bn[i]
            head = torch.stack([output.loss.float(), torch.tensor(float(trainer.current_lr), device=device)])
            # The one read-back of this sample.
            acts_np, hists_np, rows_np, head_np = (t.cpu().numpy() for t in (acts, hists, per_row, head))
        grad_norm, weight_norm = np.sqrt(rows_np[:, 0]), np.sqrt(rows_np[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            update_ratio = np.sqrt(rows_np[:, 2]) / weight_norm
        # 1: the layer's output held NaN/Inf; 2: only its gradient did (a NaN flows back to every layer before).
        nonfinite = np.where(~np.isfinite(acts_np[:, 0]) | ~np.isfinite(acts_np[:, 1]), 1.0, 0.0).astype(np.float32)
        nonfinite[(nonfinite == 0) & self._has_params & ~np.isfinite(grad_norm)] = 2.0
        peak = hists_np.max(axis=1, keepdims=True)
        hist = np.where(peak > 0, np.round(hists_np / np.maximum(peak, 1) * 255), 0).astype(np.uint8)
        sample = {"step": step.global_step, "epoch": step.epoch, "batch": step.batch, "num_batches": step.num_batches,
                  "loss": float(head_np[0]), "lr": float(head_np[1]), "hist": hist,
                  "nonfinite": nonfinite, "grad_norm": grad_norm, "weight_norm": weight_norm,
                  "update_ratio": update_ratio, "bn_var_ratio": rows_np[:, 3]}
        for k, name in enumerate(_ACT):
            sample[name] = acts_np[:, k]
        self._samples.append(sample)
        if len(self._samples) >= FLUSH_EVERY or step.global_step == self.early_steps:
            self._flush()
        self._spent += time.perf_counter() - began

    def _per_row_sq(self, norms: list[torch.Tensor]) -> list[torch.Tensor]:
        """Squared norms of each row's parameters, summed per row (a block: all of its weights)."""
        out: list[Any] = [0.0] * len(self._rows)
        for owner, norm in zip(self._owner, norms):
            out[owner] = out[owner] + norm.float() ** 2
        return out

    # -- writing ----------------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._samples:
            return
        if not self._layers_written:
            store.write_layers(self.run_dir, [
                store.LayerMeta(node.name, node.kind, kind, self._ranges[i] or (-1.0, 1.0), node.in_head)
                for i, ((node, _src), kind) in enumerate(zip(self._rows, self._kinds))])
            self._layers_written = all(r is not None for r in self._ranges)
        samples, self._samples = self._samples, []
        store.write_chunk(self.run_dir, samples, len(self._rows))

    def on_epoch_validated(self, trainer: Trainer, stats: EpochStats) -> None:
        self._flush()  # before last.pt: a kill in between redoes the epoch, which records it again

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._remove_hooks()
        self._flush()

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        self._remove_hooks()
        self._flush()  # what led to a failure (a NaN loss) is what the diagnosis needs

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
