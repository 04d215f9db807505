"""Text classifiers over token ids: the reference convnet and stronger variants.

All output one logit per class (a single logit for binary tasks), so the
trainer pairs them with a loss on logits; no model ends in a sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from convseq.models.conv_global_max import conv_relu_global_max
from convseq.models.embedding_conv import embedding_conv_pool
from convseq.models.init import keras_init
from convseq.models.registry import TextShape, register_model


class ReferenceTextCNN(nn.Module):
    """Embedding -> Conv1D(32,7) -> MaxPool(5) -> Conv1D(32,7) -> global max -> Linear.

    The model from the reference chapter (1,315,937 parameters at vocabulary
    10,000 and embedding 128), with a logit output instead of its buggy
    sigmoid-less probability.

    ``fused`` (the default) runs embedding -> conv -> ReLU -> max-pool as one
    layer over the distinct tokens of the batch (``models/embedding_conv.py``)
    and conv -> ReLU -> global max as another (``models/conv_global_max.py``):
    the same function and parameters as the layer-by-layer path
    (``fused=False``), several times cheaper to train on a CPU. ``sparse_grad``
    makes the embedding gradient sparse rows, as ``nn.Embedding(sparse=True)``
    does; the trainer hands them to convseq's RMSprop as they are and
    densifies them for other optimizers and for gradient clipping.
    """

    shard_safe = True  # samples independent, no randomness (training/shards.py)

    def __init__(
        self,
        vocab_size=10_000,
        embed_dim=128,
        channels=32,
        kernel_size=7,
        pool=5,
        num_outputs=1,
        fused=True,
        sparse_grad=True,
    ):
        super().__init__()
        self.fused, self.sparse_grad = fused, sparse_grad
        # marked sparse when its gradient is, so that DistributedDataParallel reduces it as such
        self.embedding = nn.Embedding(vocab_size, embed_dim, sparse=sparse_grad)
        self.conv1 = nn.Conv1d(embed_dim, channels, kernel_size)
        self.pool = nn.MaxPool1d(pool)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size)
        self.head = nn.Linear(channels, num_outputs)
        # the shortest input for which the second convolution still has a full window
        self.min_length = kernel_size - 1 + pool * kernel_size
        self.min_length_why = (
            f"its first convolution ({kernel_size} tokens) and max-pool ({pool}) must leave "
            f"{kernel_size} steps for the second convolution: {pool} x {kernel_size} + "
            f"{kernel_size - 1} tokens"
        )
        keras_init(self)

    def dense_gradients(self) -> None:
        """Dense embedding gradients, for all-reduces that take no sparse tensors (nccl)."""
        self.sparse_grad = self.embedding.sparse = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self._features_fused(ids) if self._use_fused() else self._features_layers(ids)
        return self.head(x).squeeze(-1) if self.head.out_features == 1 else self.head(x)

    def _use_fused(self) -> bool:
        # A forward hook on a layer (the model summary sets them) wants to see
        # that layer run, so such calls take the layer-by-layer path.
        # Exporters (ONNX, torch.export) trace through dynamo and cannot see
        # inside the fused autograd functions, so they get the plain layers too.
        layers = (self.embedding, self.conv1, self.pool, self.conv2)
        if torch.compiler.is_compiling():
            return False
        return self.fused and not any(layer._forward_hooks for layer in layers)

    def _features_layers(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # (batch, embed, time)
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return x.amax(dim=2)

    def _features_fused(self, ids: torch.Tensor) -> torch.Tensor:
        x = embedding_conv_pool(
            ids,
            self.embedding.weight,
            self.conv1.weight,
            self.conv1.bias,
            self.pool.kernel_size,
            self.sparse_grad,
        )  # (batch, time, channels)
        return conv_relu_global_max(x, self.conv2.weight, self.conv2.bias)


@register_model(
    "text-cnn",
    "text",
    "the reference convnet: Embedding -> Conv1D -> MaxPool -> Conv1D -> global max -> Dense",
    help={
        "embed_dim": "word embedding size",
        "channels": "filters of both convolutions",
        "kernel_size": "kernel size of both convolutions",
        "pool": "max-pool size between the convolutions",
    },
)
def text_cnn(
    shape: TextShape, *, embed_dim: int = 128, channels: int = 32, kernel_size: int = 7, pool=5
) -> nn.Module:
    return ReferenceTextCNN(
        shape.vocab_size, embed_dim, channels, kernel_size, pool, shape.num_outputs
    )
