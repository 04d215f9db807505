"""Several processes, one run: DistributedDataParallel as torchrun launches it.

``torchrun --nproc_per_node N -m convseq run NAME`` starts N processes; the
command line joins them into a process group (gloo on the CPU, nccl on
CUDA). Every rank draws the same global batch (data order depends only on
the seed and the epoch), trains on its own contiguous share of it, and DDP
all-reduces the gradients. Each rank's loss is scaled by its share of the
global batch, so the averaged gradient is the global batch's mean gradient,
as in one process. Validation sums are all-reduced, so every rank sees the
same metrics and picks the same best epoch. Rank 0 alone prints and writes.

Sparse embedding gradients: gloo all-reduces them, nccl does not, so a
model that produces them is asked for dense ones under nccl (models that
have the choice expose ``dense_gradients()``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def current() -> Ranks:
    """This process's rank among the process group's (one rank without a group)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def share(batch: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's contiguous part of a global batch (a rank may get none of a tiny one)."""
    return batch.tensor_split(ranks.world)[ranks.rank] if ranks.distributed else batch


def all_sum(values: list[float], device: torch.device, ranks: Ranks) -> list[float]:
    """Element-wise sums of ``values`` over all ranks."""
    if not ranks.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def wrap(model: torch.nn.Module, device: torch.device, ranks: Ranks) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when the run has several ranks."""
    if not ranks.distributed:
        return model
    if dist.get_backend() == "nccl":
        for module in model.modules():
            if hasattr(module, "dense_gradients"):
                module.dense_gradients()
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)


def gather(value, ranks: Ranks) -> list:
    """``value`` from every rank, in rank order (``[value]`` without a group)."""
    if not ranks.distributed:
        return [value]
    values = [None] * ranks.world
    dist.all_gather_object(values, value)
    return values


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()
