"""Several copies of one model trained side by side, each on its own loss, averaged to predict.

Averaging networks removes the part of their errors in which they differ,
an easy gain when that part is large. The members see the same batches but
start from different weights and draw different dropout (on IMDB they ended
up making the same mistakes: docs/tcn.md).
While training, ``Ensemble`` returns every member's output (``(batch,
members)`` for one-logit models) and the task's loss averages the members'
own losses, so no member leans on the others; in evaluation it returns the
mean logit, the same shape as one member's, so prediction, evaluation and
export need nothing new.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from convseq.errors import UserError


class Ensemble(nn.Module):
    def __init__(self, build: Callable[[], nn.Module], members: int):
        super().__init__()
        if members < 2:
            raise UserError(
                f"an ensemble needs at least 2 members, got {members}; use the model itself for 1"
            )
        self.members = nn.ModuleList(build() for _ in range(members))
        # each member keeps its own copy of any buffers (such as frozen pretrained
        # tables): shared tensors cannot be saved to safetensors

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([member(inputs) for member in self.members], dim=-1)
        return outputs if self.training else outputs.mean(dim=-1)

    def summary_extra(self) -> list[str]:
        first = self.members[0]
        lines = [f"Ensemble of {len(self.members)} members, mean logit; each member:"]
        if hasattr(first, "summary_extra"):
            lines += [f"  {line}" for line in first.summary_extra()]
        return lines


def members_of(model: nn.Module) -> list[nn.Module]:
    """The networks inside ``model``: its members, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]
