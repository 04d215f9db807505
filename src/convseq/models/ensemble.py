"""Several models trained side by side, each on its own loss, averaged to predict.

Averaging networks removes the part of their errors in which they differ,
an easy gain when that part is large. Copies of one network see the same
batches but start from different weights and draw different dropout (on IMDB
they ended up making the same mistakes: docs/tcn.md); members of different
kinds (a region CNN and a bag of n-grams) disagree far more.
While training, ``Ensemble`` returns every member's output (``(batch,
members)`` for one-logit models) and the task's loss averages the members'
own losses, so no member leans on the others; members whose parameters are
all frozen are left out (one learning member: its output alone). In
evaluation it returns the mean logit of all members, the same shape as one
member's, so prediction, evaluation and export need nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from convseq.errors import UserError


class Ensemble(nn.Module):
    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise UserError(
                f"an ensemble needs at least 2 members, got {len(members)}; "
                "use the model itself for 1"
            )
        self.members = nn.ModuleList(members)
        # each member keeps its own copy of any buffers (such as frozen pretrained
        # tables): shared tensors cannot be saved to safetensors

    @property
    def shard_safe(self) -> bool:
        """Trainable in shards (training/shards.py) when every member is."""
        return all(getattr(m, "shard_safe", False) for m in self.members)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return torch.stack([member(inputs) for member in self.members], dim=-1).mean(dim=-1)
        # a frozen member (fitted on its own before) has nothing to learn: leave it out
        learning = [m for m in self.members if any(p.requires_grad for p in m.parameters())]
        outputs = [member(inputs) for member in learning or self.members]
        return outputs[0] if len(outputs) == 1 else torch.stack(outputs, dim=-1)

    def summary_extra(self) -> list[str]:
        lines = [f"Ensemble of {len(self.members)} members; predicts their mean"]
        shown = set()
        for member in self.members:
            kind = type(member).__name__
            if kind in shown or not hasattr(member, "summary_extra"):
                continue
            shown.add(kind)
            lines.append(f"each {kind}:")
            lines += [f"  {line}" for line in member.summary_extra()]
        return lines


def members_of(model: nn.Module) -> list[nn.Module]:
    """The networks inside ``model``: its members, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]
