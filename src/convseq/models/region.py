"""Region-embedding convnet for text: Johnson & Zhang's seq-CNN (NAACL 2015).

A convolution over one-hot word vectors with region size k computes, for each
window of k words, ``W_1[w_t] + W_2[w_t+1] + ... + W_k[w_t+k-1] + b``: a sum of
position-specific word vectors. Unlike a convolution over small dense word
embeddings, this gives every n-gram a full-rank C-dimensional feature vector,
which is what lets a one-layer convnet beat bag-of-n-gram baselines.
Computed as an ``EmbeddingBag`` over the k shifted ids, it costs k row
lookups per word instead of a matrix product, and with sparse gradients an
update only touches the rows of the words in the batch. Several region sizes
can run side by side (seq2-CNN); each ends in ReLU and a masked max (and
optionally mean) over the whole review, then dropout and one linear logit.
Optional word dropout blanks random words while training. With
``context_size``/``context_dim`` each region layer also receives region
vectors pretrained on unlabelled text (``region_context.py``), as J&Z's
semi-supervised CNN does; several context sizes give several sets of vectors
side by side (J&Z combine tv-embeddings learned with different settings).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from convseq.errors import UserError
from convseq.models.ensemble import Ensemble
from convseq.models.ngram_bag import NgramBag
from convseq.models.precision import in_fp32
from convseq.models.region_context import RegionContext
from convseq.models.registry import TextShape, register_model

POOLS = ("max", "maxmean")


class RegionEmbedding(nn.Module):
    """(batch, time) ids -> (batch, time, channels): one conv over one-hot words.

    Output step t sees the ``size`` words centred on t (one more on the right
    for even sizes); padding ids (and the ends of the review) add nothing.
    """

    def __init__(self, vocab_size: int, size: int, channels: int, padding_id: int, sparse: bool):
        super().__init__()
        self.vocab_size, self.size, self.padding_id = vocab_size, size, padding_id
        self.blank = size * vocab_size  # the row that padding maps to
        self.table = nn.EmbeddingBag(
            self.blank + 1, channels, mode="sum", padding_idx=self.blank, sparse=sparse
        )
        nn.init.normal_(self.table.weight, 0.0, 0.01)  # J&Z's initialisation
        with torch.no_grad():
            self.table.weight[self.blank].zero_()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("offsets", torch.arange(size) * vocab_size, persistent=False)

    def dense_gradients(self) -> None:
        """Dense gradients, for all-reduces that take no sparse tensors (nccl)."""
        self.table.sparse = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, time = ids.shape
        left = (self.size - 1) // 2
        padded = F.pad(ids, (left, self.size - 1 - left), value=self.padding_id)
        windows = padded.unfold(1, self.size, 1)  # (batch, time, size)
        rows = (windows + self.offsets).masked_fill(windows == self.padding_id, self.blank)
        rows = rows.reshape(batch * time, self.size)
        if self.table.sparse:
            out = region_bag(rows, self.table.weight, self.blank)
        else:
            out = self.table(rows)
        return out.view(batch, time, -1) + self.bias


class RegionBagFunction(torch.autograd.Function):
    """``embedding_bag(rows, table, sum)`` whose gradient is one summed row per distinct row.

    EmbeddingBag's own sparse gradient repeats the output gradient for every
    lookup (3 per word for regions of 3) and leaves the optimizer to sort and
    sum them; here the lookups are sorted once and each distinct row's
    gradient is a segment sum, already in increasing row order.
    """

    @staticmethod
    def forward(ctx, rows, table, blank):
        ctx.save_for_backward(rows)
        ctx.table_shape, ctx.blank = table.shape, blank
        return F.embedding_bag(rows, table, mode="sum", padding_idx=blank)

    @staticmethod
    def backward(ctx, grad_out):
        (rows,) = ctx.saved_tensors
        sorted_rows, order = torch.sort(rows.reshape(-1))
        distinct, counts = torch.unique_consecutive(sorted_rows, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        bags = order // rows.shape[1]  # the output row of each lookup
        grad_rows = F.embedding_bag(bags, grad_out.contiguous(), starts, mode="sum")
        if len(distinct) and int(distinct[-1]) == ctx.blank:  # padding: the largest row
            distinct, grad_rows = distinct[:-1], grad_rows[:-1]
        grad = torch.sparse_coo_tensor(
            distinct.unsqueeze(0),
            grad_rows,
            ctx.table_shape,
            is_coalesced=True,
            check_invariants=False,
        )
        return None, grad, None


@in_fp32
def region_bag(rows, table, blank):
    return RegionBagFunction.apply(rows, table, blank)


def masked_pool(x: torch.Tensor, mask: torch.Tensor, pool: str) -> torch.Tensor:
    """Max (and mean) over the real steps of (batch, time, channels) features."""
    weights = mask.unsqueeze(-1)
    largest = x.masked_fill(~weights, float("-inf")).amax(dim=1)
    largest = torch.where(torch.isfinite(largest), largest, torch.zeros_like(largest))
    if pool == "max":
        return largest
    mean = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return torch.cat([largest, mean], dim=1)


class RegionCNN(nn.Module):
    """Region embeddings of each size in ``sizes`` -> ReLU -> masked pooling -> Linear."""

    def __init__(
        self,
        vocab_size: int = 30_000,
        sizes: Sequence[int] = (3,),
        channels: int = 500,
        pool: str = "max",
        head_dropout: float = 0.5,
        word_dropout: float = 0.0,
        num_outputs: int = 1,
        padding_id: int = 0,
        sparse: bool = True,
        context_size: int | Sequence[int] = 0,
        context_dim: int = 0,
        context_init: float = 0.0,
    ):
        super().__init__()
        sizes = [sizes] if isinstance(sizes, int) else list(sizes)
        if not sizes or any(k < 1 for k in sizes):
            raise UserError(f"region sizes must be positive integers, got {sizes}; pass e.g. [3]")
        if channels < 1:
            raise UserError(f"region channels must be positive, got {channels}; pass e.g. 500")
        if not 0 <= word_dropout < 1:
            raise UserError(f"word dropout must be in [0, 1), got {word_dropout}")
        if pool not in POOLS:
            raise UserError(f"unknown pooling {pool!r}; choose one of {', '.join(POOLS)}")
        self.pool, self.padding_id, self.sizes = pool, padding_id, sizes
        self.word_dropout = word_dropout
        self.regions = nn.ModuleList(
            RegionEmbedding(vocab_size, k, channels, padding_id, sparse) for k in sizes
        )
        # region vectors pretrained on unlabelled text (frozen), mapped into every region layer
        self.context = None
        context_sizes = [context_size] if isinstance(context_size, int) else list(context_size)
        if context_dim and context_sizes and all(context_sizes):
            # the first size keeps the name ``context``; more sizes come after it
            first, *more = (
                RegionContext(vocab_size, k, context_dim, padding_id) for k in context_sizes
            )
            self.context, self.more_contexts = first, nn.ModuleList(more)
            width = context_dim * len(context_sizes)
            self.context_map = nn.Linear(width, channels * len(sizes), bias=False)
            if context_init:  # as small as the region tables start, so neither input dominates
                nn.init.normal_(self.context_map.weight, 0.0, context_init)
        self.head_dropout = nn.Dropout(head_dropout)
        width = channels * len(sizes) * (2 if pool == "maxmean" else 1)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.training and self.word_dropout:
            # drop whole words while training, so no single n-gram can decide a review
            dropped = torch.rand(ids.shape, device=ids.device) < self.word_dropout
            ids = ids.masked_fill(dropped, self.padding_id)
        mask = ids != self.padding_id
        layers = [region(ids) for region in self.regions]
        if self.context is not None:
            vectors = [context(ids) for context in self.contexts()]
            vectors = vectors[0] if len(vectors) == 1 else torch.cat(vectors, dim=-1)
            extra = self.context_map(vectors).chunk(len(layers), dim=-1)
            layers = [layer + added for layer, added in zip(layers, extra, strict=True)]
        features = torch.cat(
            [masked_pool(torch.relu(layer), mask, self.pool) for layer in layers], dim=1
        )
        out = self.head(self.head_dropout(features))
        return out.squeeze(-1) if self.head.out_features == 1 else out

    def summary_extra(self) -> list[str]:
        sizes = ", ".join(map(str, self.sizes))
        lines = [f"Region sizes: {sizes} words; pooling: {self.pool} over the whole review"]
        for region in self.regions:
            rows, width = region.table.weight.shape
            lines.append(f"  region {region.size}: table {rows:,} x {width} (sparse updates)")
        for context in self.contexts():
            rows, width = context.table.shape
            lines.append(
                f"  pretrained context: {context.size}-word regions, table {rows:,} x {width} (frozen)"
            )
        return lines

    def contexts(self) -> list[RegionContext]:
        """The pretrained region-vector layers, one per context size (none without pretraining)."""
        return [] if self.context is None else [self.context, *self.more_contexts]


@register_model(
    "text-region-cnn",
    "text",
    "region-embedding convnet (Johnson & Zhang seq2-CNN), optionally with region vectors "
    "pretrained on unlabelled text and averaged with an NB-weighted bag of n-grams",
    help={
        "region_sizes": "words per region, one region embedding per size, e.g. 3 or 2,3",
        "channels": "features per region embedding",
        "pool": "pooling over the text: max, or maxmean (max and mean side by side)",
        "head_dropout": "dropout on the pooled features before the output layer",
        "word_dropout": "fraction of words blanked at random in each training batch",
        "members": "networks trained side by side and averaged (an ensemble)",
        "pretrain_epochs": "passes over unlabelled text (and the training texts) to pretrain "
        "region vectors (0: no pretraining)",
        "context_size": "words per pretrained region; several sizes pretrain one set each",
        "context_dim": "size of a pretrained region vector",
        "context_init": "standard deviation of the initial map from pretrained vectors to "
        "features (0: torch's default)",
        "ngram_bag": "average with a Naive-Bayes-weighted bag of n-grams, fitted on its own "
        "first and then frozen",
        "ngram_order": "longest n-gram in the bag (2: words and word pairs)",
        "ngram_buckets": "rows the bag's n-grams are hashed into",
        "ngram_epochs": "passes of the bag's own fit (the best one on validation is kept)",
        "ngram_lr": "the bag's learning rate (Adam, constant)",
    },
    example_settings={"channels": 8, "context_dim": 4, "ngram_buckets": 1009},
)
def text_region_cnn(
    shape: TextShape,
    *,
    region_sizes: list[int] = [2, 3],  # noqa: B006 (read, never changed)
    channels: int = 400,
    pool: str = "maxmean",
    head_dropout: float = 0.5,
    word_dropout: float = 0.0,
    members: int = 1,
    pretrain_epochs: int = 0,
    context_size: list[int] = [5],  # noqa: B006
    context_dim: int = 200,
    context_init: float = 0.01,
    ngram_bag: bool = False,
    ngram_order: int = 2,
    ngram_buckets: int = 4_194_301,
    ngram_epochs: int = 2,
    ngram_lr: float = 0.01,
) -> nn.Module:
    """One ``RegionCNN``, or an ``Ensemble`` of ``members`` of them, plus an ``NgramBag`` over
    the same token ids with ``ngram_bag``. The pretraining and the bag's fit are done by the
    text pipeline (``pipelines/text.py``) before training."""
    for name, value, low in (
        ("members", members, 1),
        ("pretrain_epochs", pretrain_epochs, 0),
        ("context_dim", context_dim, 1),
        ("ngram_epochs", ngram_epochs, 1),
    ):
        if value < low:
            raise UserError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
    if len(set(context_size)) != len(context_size) or any(k < 1 for k in context_size):
        raise UserError(f"--context-size must list distinct positive sizes, got {context_size}")
    if ngram_lr <= 0:
        raise UserError(f"--ngram-lr must be positive, got {ngram_lr}")
    settings = dict(
        vocab_size=shape.vocab_size,
        sizes=region_sizes,
        channels=channels,
        pool=pool,
        head_dropout=head_dropout,
        word_dropout=word_dropout,
        num_outputs=shape.num_outputs,
        padding_id=shape.padding_id,
    )
    if pretrain_epochs:
        settings.update(
            context_size=context_size, context_dim=context_dim, context_init=context_init
        )
    if members == 1 and not ngram_bag:
        return RegionCNN(**settings)
    networks = [RegionCNN(**settings) for _ in range(members)]
    if ngram_bag:
        networks.append(
            NgramBag(shape.vocab_size, ngram_order, ngram_buckets, shape.padding_id,
                     num_outputs=shape.num_outputs)
        )  # fmt: skip
    return Ensemble(networks)
