"""Data-parallel training across processes: `torchrun --nproc_per_node=N -m cnnstudio train ...`.

torchrun starts N copies of the command and tells each its RANK, LOCAL_RANK and WORLD_SIZE
(and, across machines, where to meet: `--nnodes`, `--rdzv-endpoint`). `setup()` joins them
in one process group — NCCL on CUDA (one GPU per process: cuda:LOCAL_RANK), gloo on the
CPU — and the trainer then

- wraps the model in `DistributedDataParallel` for training (gradients averaged across
  ranks after every backward; the checkpoints keep saving the bare model, so no `module.`
  prefix ever reaches a file), optionally with SyncBatchNorm on CUDA;
- gives every rank its slice of each global batch (`DeviceLoader(rank=, world_size=)`):
  all ranks draw the same seeded permutation per epoch, so the slices are disjoint and
  reshuffled every epoch, as `DistributedSampler.set_epoch` does; `batch_size` stays the
  global batch, so a run over N processes follows the single-process run;
- counts validation once: each rank evaluates its own share (no padded duplicates) and
  the loss/top-1/top-5 sums and counts are all-reduced;
- lets rank 0 alone write the run folder (`NullRunWriter` elsewhere).

A rank that dies or freezes must not hang the others: every collective waits at most the
collective timeout (`--dist-timeout` minutes, or $CNNSTUDIO_DIST_TIMEOUT; default
`DEFAULT_TIMEOUT_MIN`, not gloo's 30), except the wait while rank 0 loads the data (a
download may take long: a gloo group of its own, `DATA_WAIT`). A collective that fails
because another process stopped or stopped answering becomes one `TrainingError` line
(`peer_failure`), stored as the run's reason, never a gloo traceback.

Nothing here runs in the app: the window trains in one process.
"""

from __future__ import annotations

import atexit
import math
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cnnstudio.errors import TrainingError

__all__ = ["DEFAULT_TIMEOUT_MIN", "DistContext", "NullRunWriter", "collective_timeout", "launch_failure",
           "launched_by_torchrun", "peer_failure", "setup", "shutdown", "torchrun_command"]

#: How long a collective waits for the other processes, in minutes (gloo's own default is 30).
DEFAULT_TIMEOUT_MIN = 5.0
TIMEOUT_ENV = "CNNSTUDIO_DIST_TIMEOUT"
#: How long the other ranks wait while rank 0 loads (perhaps downloads) the data.
DATA_WAIT = timedelta(hours=6)
_state: dict[str, Any] = {"minutes": DEFAULT_TIMEOUT_MIN, "data_group": None}
# What the collectives' own errors say when a peer is gone or frozen (gloo, NCCL, the store).
_PEER_WORDS = ("gloo", "Gloo", "NCCL", "nccl", "Connection closed by peer", "Connection reset by peer",
               "Broken pipe", "Timed out waiting", "timed out", "Socket Timeout")


def collective_timeout(minutes: float | str | None = None) -> float:
    """The collective timeout in minutes: `minutes`, else $CNNSTUDIO_DIST_TIMEOUT, else the default;
    refused in one line unless a finite number above 0 and at most a day."""
    raw = minutes if minutes is not None else os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_MIN
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 24 * 60):
        raise TrainingError(f"--dist-timeout must be minutes above 0 and at most 1440 (a day); got {raw!r}")
    return value


def peer_failure(exc: BaseException) -> TrainingError | None:
    """`exc` as one line when it is a collective failing because another process of the run
    stopped (killed) or stopped answering (frozen past the timeout); None for anything else."""
    if isinstance(exc, TrainingError) or not isinstance(exc, RuntimeError):
        return None
    text = str(exc).strip()
    if not (isinstance(exc, getattr(dist, "DistError", ())) or any(word in text for word in _PEER_WORDS)):
        return None
    first = re.sub(r"^\[[^\]]*\]\s*", "", (text.splitlines() or [type(exc).__name__])[0]).strip()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return TrainingError(f"another process of this run stopped answering for {_state['minutes']:g} min "
                             "(--dist-timeout): the run ends at its last checkpoint — resume it with train --resume")
    return TrainingError(f"another process of this run stopped: {first[:160]} — the run ends at its last "
                         "checkpoint; resume it with train --resume")


def launch_failure(failures: dict[int, Any], nproc: int) -> str:
    """One line for the processes torchrun saw fail (`ChildFailedError.failures`: rank → exit code)."""
    import signal

    parts = []
    for rank, failure in sorted(failures.items()):
        code = int(getattr(failure, "exitcode", 1))
        if code < 0:
            try:
                how = f"was killed ({signal.Signals(-code).name})"
            except ValueError:
                how = f"was killed (signal {-code})"
        else:
            how = f"exited with code {code}"
        parts.append(f"process {rank} {how}")
    return f"training over {nproc} processes ended: {'; '.join(parts) or 'a process failed'} — each said why above"


def _checked(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except RuntimeError as exc:
        lost = peer_failure(exc)
        if lost is None:
            raise
        raise lost from None


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group: its rank, how many there are, and its device."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float] | torch.Tensor) -> torch.Tensor:
        """Element-wise sum over all ranks (float64 on this rank's device)."""
        tensor = torch.as_tensor(values, dtype=torch.float64).to(self.device)
        _checked(dist.all_reduce, tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any (a stop asked of one rank stops all, at the same batch)."""
        return bool(self.sum([1.0 if flag else 0.0]).item() > 0)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        box = [obj]
        _checked(dist.broadcast_object_list, box, src=0)
        return box[0]

    def barrier(self, *, data: bool = False) -> None:
        """Wait for every rank; `data`: while rank 0 loads the data (up to `DATA_WAIT`)."""
        group = _state["data_group"] if data else None
        _checked(dist.barrier, group=group)

    def wrap(self, model: nn.Module, *, sync_batch_norm: bool) -> tuple[nn.Module, nn.Module]:
        """(the bare model, its DDP wrapper); SyncBatchNorm replaces BatchNorm first when asked (CUDA only)."""
        from torch.nn.parallel import DistributedDataParallel

        if sync_batch_norm and self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # The constructor broadcasts rank 0's parameters and buffers: every rank starts equal.
        return model, DistributedDataParallel(model, device_ids=ids)


class NullRunWriter:
    """What ranks other than 0 write to the run folder: nothing."""

    def __init__(self, run_dir: Any = None) -> None:
        self.run_dir = run_dir

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def launched_by_torchrun() -> bool:
    """True in a process torchrun started as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_main_process() -> bool:
    """False in a process torchrun started as a rank other than 0; usable before `setup`."""
    return not launched_by_torchrun() or os.environ.get("RANK", "0").strip() == "0"


def setup(device_name: str, *, timeout_minutes: float | str | None = None) -> DistContext | None:
    """Join torchrun's process group (once per process); None when not launched as one of several.

    Collectives wait at most `collective_timeout(timeout_minutes)` minutes for the other ranks."""
    if not dist.is_available() or (not dist.is_initialized() and not launched_by_torchrun()):
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        backend = dist.get_backend()
    else:
        if device_name == "mps":
            raise TrainingError("distributed training runs on CUDA GPUs (NCCL) or the CPU (gloo), not on mps")
        cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
        if cuda:
            if not torch.cuda.is_available():
                raise TrainingError(f"device {device_name} is not available: no CUDA GPU was found — use --device cpu")
            if local_rank >= torch.cuda.device_count():
                raise TrainingError(f"process {local_rank} has no GPU: this machine has {torch.cuda.device_count()}"
                                    " — start at most that many processes per node (--nproc_per_node)")
            torch.cuda.set_device(local_rank)
        backend = "nccl" if cuda else "gloo"
        _state["minutes"] = collective_timeout(timeout_minutes)
        dist.init_process_group(backend, timeout=timedelta(minutes=_state["minutes"]))
        _state["data_group"] = dist.new_group(backend="gloo", timeout=DATA_WAIT)
        # Left at exit, not after each fit: re-joining a group in the same process is racy.
        atexit.register(shutdown)
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                       backend=backend, device=device)


def shutdown() -> None:
    """Leave the process group (registered to run at exit by `setup`)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def torchrun_command(nproc: int, cnnstudio_args: list[str]) -> list[str]:
    """The torchrun command line that `cnnstudio train --nproc N` runs: one machine, N processes."""
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "cnnstudio", *cnnstudio_args]
