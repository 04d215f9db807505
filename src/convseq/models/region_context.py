"""Region embeddings learned from unlabelled text (Johnson & Zhang's tv-embeddings, NIPS 2015).

A labelled set of 25,000 reviews sees each n-gram a few times at most; the
50,000 unlabelled IMDB reviews see it far more often. ``NeighbourPredictor``
learns, from text alone, a vector for every window of ``size`` words that
predicts which words occur just before and after it (the "two-view" task).
Words that play the same part ("great"/"superb") end up with similar region
vectors, which is what the supervised model cannot learn from its own data.

``RegionContext`` is the frozen result: for each position of a review, ReLU of
the bag-of-words sum of the window around it. ``RegionCNN`` feeds it, through
a trained linear map, into each of its region layers as extra input.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def centred_windows(ids: torch.Tensor, size: int, padding_id: int) -> torch.Tensor:
    """(batch, time) ids -> (batch, time, size): the ``size`` words centred on each step."""
    left = (size - 1) // 2
    padded = F.pad(ids, (left, size - 1 - left), value=padding_id)
    return padded.unfold(1, size, 1)


class RegionContext(nn.Module):
    """(batch, time) ids -> (batch, time, dim): frozen bag-of-words region vectors.

    The table and bias are buffers: saved with the model's weights, never
    trained by the classifier (J&Z keep the tv-embedding fixed).
    """

    def __init__(self, vocab_size: int, size: int, dim: int, padding_id: int = 0):
        super().__init__()
        self.size, self.dim, self.padding_id = size, dim, padding_id
        self.register_buffer("table", torch.zeros(vocab_size, dim))
        self.register_buffer("bias", torch.zeros(dim))

    def load(self, table: torch.Tensor, bias: torch.Tensor) -> None:
        """Install a table learned by ``NeighbourPredictor`` (padding row kept at zero)."""
        if table.shape != self.table.shape or bias.shape != self.bias.shape:
            raise ValueError(
                f"context table {tuple(table.shape)} does not fit {tuple(self.table.shape)}"
            )
        self.table.copy_(table)
        self.table[self.padding_id].zero_()
        self.bias.copy_(bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, time = ids.shape
        windows = centred_windows(ids, self.size, self.padding_id).reshape(batch * time, self.size)
        summed = F.embedding_bag(windows, self.table, mode="sum", padding_idx=self.padding_id).view(
            batch, time, self.dim
        )
        return torch.relu(summed + self.bias)


class NeighbourPredictor(nn.Module):
    """The pretraining network: a region's vector scores the words around the region.

    ``regions`` turns windows of word ids into region vectors (n, dim);
    ``score`` gives their logits for candidate words. The loss (in
    ``training.pretrain_context``) is logistic: neighbours up, sampled words
    down (negative sampling, as word2vec does).
    """

    def __init__(self, vocab_size: int, size: int, dim: int, padding_id: int = 0):
        super().__init__()
        self.size, self.dim, self.padding_id = size, dim, padding_id
        self.inputs = nn.Embedding(vocab_size, dim, padding_idx=padding_id, sparse=True)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.outputs = nn.Embedding(vocab_size, dim, sparse=True)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.inputs.weight, 0.0, 0.1)
        nn.init.normal_(self.outputs.weight, 0.0, 0.1)
        with torch.no_grad():
            self.inputs.weight[padding_id].zero_()

    def regions(self, windows: torch.Tensor) -> torch.Tensor:
        """(n, size) word ids -> (n, dim) region vectors."""
        return torch.relu(self.inputs(windows).sum(dim=1) + self.bias)

    def score(self, vectors: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Logits of ``words`` for each region: (n, k) ids -> (n, k), or (m,) ids -> (n, m)."""
        # the bias looked up as a one-column embedding: the backward of ``output_bias[words]``
        # (index_put_ with accumulation) sums in a thread-dependent order on CPU, so two
        # threads did not give the same table twice
        bias = F.embedding(words, self.output_bias.unsqueeze(1)).squeeze(-1)
        if words.dim() == 1:
            return vectors @ self.outputs(words).T + bias
        rows = self.outputs(words)  # (n, k, dim)
        return torch.einsum("nd,nkd->nk", vectors, rows) + bias

    def context(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned (table, bias) for ``RegionContext.load``."""
        return self.inputs.weight.detach().clone(), self.bias.detach().clone()
