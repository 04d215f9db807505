"""A Keras-style model summary: layer, output shape and parameter count.

Runs one forward pass on an example input with hooks on the direct children
(each member of a ``ModuleList``, such as an ensemble's), so it reports real
output shapes rather than guesses.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def summarize(model: nn.Module, example: torch.Tensor) -> tuple[str, int]:
    rows: list[tuple[str, str, int]] = []
    hooks = []
    for name, child in _layers(model):

        def hook(module, inputs, output, name=name):
            shape = tuple(output.shape) if torch.is_tensor(output) else tuple(output[0].shape)
            params = sum(p.numel() for p in module.parameters())
            rows.append((f"{name} ({type(module).__name__})", str((None, *shape[1:])), params))

        hooks.append(child.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    width = max([len(r[0]) for r in rows] + [20]) + 2
    lines = [f"Model: {type(model).__name__}", "=" * (width + 40)]
    lines.append(f"{'Layer (type)':<{width}}{'Output Shape':<26}{'Param #':>12}")
    lines.append("-" * (width + 40))
    for name, shape, params in rows:
        lines.append(f"{name:<{width}}{shape:<26}{params:>12,}")
    lines.append("=" * (width + 40))
    lines.append(f"Output: {(None, *tuple(output.shape)[1:])}")
    lines.append(f"Total params: {total:,}")
    lines.append(f"Trainable params: {trainable:,}")
    extra = getattr(model, "summary_extra", None)
    if callable(extra):
        lines.extend(extra())
    return "\n".join(lines), total


def _layers(model: nn.Module):
    """Direct children, with each ``ModuleList`` opened into its items."""
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList):
            yield from ((f"{name}.{i}", item) for i, item in enumerate(child))
        else:
            yield name, child
