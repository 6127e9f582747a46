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

Nothing here runs in the app: the window trains in one process.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cnnstudio.errors import TrainingError

__all__ = ["DistContext", "NullRunWriter", "launched_by_torchrun", "setup", "shutdown", "torchrun_command"]


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
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any (a stop asked of one rank stops all, at the same batch)."""
        return bool(self.sum([1.0 if flag else 0.0]).item() > 0)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

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


def setup(device_name: str) -> DistContext | None:
    """Join torchrun's process group (once per process); None when not launched as one of several."""
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
        dist.init_process_group(backend)
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
