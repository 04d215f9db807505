"""Text classifiers over token ids: the reference convnet and stronger variants.

All output one logit per class (a single logit for binary tasks), so the
trainer pairs them with a loss on logits; no model ends in a sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from convseq.models.init import keras_init
from convseq.models.registry import register_model


class ReferenceTextCNN(nn.Module):
    """Embedding -> Conv1D(32,7) -> MaxPool(5) -> Conv1D(32,7) -> global max -> Linear.

    The model from the reference chapter (1,315,937 parameters at vocabulary
    10,000 and embedding 128), with a logit output instead of its buggy
    sigmoid-less probability.
    """

    def __init__(
        self, vocab_size=10_000, embed_dim=128, channels=32, kernel_size=7, pool=5, num_outputs=1
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.conv1 = nn.Conv1d(embed_dim, channels, kernel_size)
        self.pool = nn.MaxPool1d(pool)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size)
        self.head = nn.Linear(channels, num_outputs)
        # the shortest input for which the second convolution still has a full window
        self.min_length = kernel_size - 1 + pool * kernel_size
        keras_init(self)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # (batch, embed, time)
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = x.amax(dim=2)
        return self.head(x).squeeze(-1) if self.head.out_features == 1 else self.head(x)


@register_model("text-cnn")
def text_cnn(**settings) -> nn.Module:
    return ReferenceTextCNN(**settings)
