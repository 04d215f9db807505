"""Keras-style initialisation, so the reference models start where Keras starts them.

Keras initialises Conv1D and Dense kernels with Glorot-uniform and zero biases,
and Embedding with uniform(-0.05, 0.05).
"""

from __future__ import annotations

import torch.nn as nn


def keras_init(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Embedding):
            nn.init.uniform_(layer.weight, -0.05, 0.05)
            if layer.padding_idx is not None:
                layer.weight.data[layer.padding_idx].uniform_(-0.05, 0.05)
        elif isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
