"""A bag of word n-grams weighted by Naive Bayes log-count ratios, read by a logistic layer.

Wang & Manning's NBSVM (2012) showed that a linear model over which word
pairs a review contains, each scaled by how much more often it occurs in one
class than the other, is a strong sentiment classifier. Its errors differ
from a convnet's (it sees every bigram exactly, with no pooling), so it is a
useful second member beside ``RegionCNN`` (docs/tcn.md measures both).

The n-grams are computed from the token ids inside the model, so the member
takes the same input as every text model and needs nothing new to predict or
export: each n-gram's ids are combined into one integer key and hashed into
``buckets`` rows by a modulo. Each review counts an n-gram once (binary
features, as NBSVM). ``fit_ratios`` computes the log-count ratios from the
training reviews before training; they are a buffer, saved with the weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from convseq.errors import UserError
from convseq.models.registry import TextShape, register_model

MAX_BUCKETS = 100_000_000  # 0.4 GB of weights, as much again of ratios, twice that for Adam


def check_bag_settings(vocab_size: int, order: int, buckets: int) -> None:
    """Refuse settings the bag cannot use, naming the option to change."""
    if order not in (1, 2, 3):
        raise UserError(f"--ngram-order must be 1, 2 or 3, got {order}; pass e.g. 2")
    if not 2 <= buckets <= MAX_BUCKETS:
        raise UserError(
            f"--ngram-buckets must be 2 to {MAX_BUCKETS:,}, got {buckets}; pass e.g. 4194301"
        )
    if vocab_size**order >= 2**62:
        raise UserError(
            f"a vocabulary of {vocab_size} words is too large for {order}-gram keys; "
            "lower --vocab-size or --ngram-order"
        )


class NgramBag(nn.Module):
    """Token ids (batch, time) -> logits: bias + sum over the text's n-grams of w * r.

    One logit for two classes; for more, one per class, each with its own
    one-vs-rest ratios and weights (a softmax over them is the prediction).
    The ratios r must be fitted (``fit_ratios``) before training: while they
    are 0 every n-gram weighs nothing. ``fitted`` says whether they were.
    """

    def __init__(
        self,
        vocab_size: int = 30_000,
        order: int = 2,
        buckets: int = 4_194_301,
        padding_id: int = 0,
        sparse: bool = True,
        num_outputs: int = 1,
    ):
        super().__init__()
        check_bag_settings(vocab_size, order, buckets)
        self.vocab_size, self.order, self.buckets = vocab_size, order, buckets
        self.padding_id, self.num_outputs = padding_id, num_outputs
        # built from zeros: no random draws (they would shift every later module's
        # initial weights) for a table that must start at 0 anyway
        zeros = torch.zeros(buckets, num_outputs)
        self.weight = nn.Embedding(buckets, num_outputs, sparse=sparse, _weight=zeros)
        self.bias = nn.Parameter(torch.zeros(num_outputs))
        self.register_buffer("ratio", torch.zeros(buckets, num_outputs))

    def dense_gradients(self) -> None:
        """Dense gradients, for all-reduces that take no sparse tensors (nccl)."""
        self.weight.sparse = False

    def features(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bucket of every n-gram of each review, sorted, and which ones count.

        An n-gram counts if none of its tokens is padding and it is the first
        of its bucket in the review (binary features).
        """
        ids = ids.long()
        real = ids != self.padding_id
        keys, valid = [], []
        offset = 0
        for n in range(1, self.order + 1):
            key = ids[:, : ids.shape[1] - n + 1]
            ok = real[:, : ids.shape[1] - n + 1]
            for k in range(1, n):
                key = key * self.vocab_size + ids[:, k : ids.shape[1] - n + 1 + k]
                ok = ok & real[:, k : ids.shape[1] - n + 1 + k]
            keys.append(key + offset)
            valid.append(ok)
            offset += self.vocab_size**n
        buckets = torch.cat(keys, dim=1) % self.buckets
        buckets = buckets.masked_fill(~torch.cat(valid, dim=1), -1)
        ordered = buckets.sort(dim=1).values
        previous = torch.cat([torch.full_like(ordered[:, :1], -2), ordered[:, :-1]], dim=1)
        return ordered.clamp(min=0), (ordered >= 0) & (ordered != previous)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows, counts = self.features(ids)
        weights = self.weight(rows) * self.ratio[rows]  # (batch, n-grams, outputs)
        logits = (weights * counts.unsqueeze(-1)).sum(dim=1) + self.bias
        return logits.squeeze(-1) if self.num_outputs == 1 else logits

    @property
    def fitted(self) -> bool:
        return bool(self.ratio.any())

    @torch.no_grad()
    def fit_ratios(self, ids: torch.Tensor, labels, alpha: float = 1.0, batch: int = 1000) -> int:
        """Naive Bayes log-count ratios from binary n-gram counts; the number of buckets seen.

        For each output k (class 1 for a one-logit bag, else class k against
        the rest): ``log((p / |p|) / (q / |q|))``, where ``p`` and ``q`` count
        the texts in and out of the class that hold each bucket, plus
        ``alpha``. Buckets no training text holds keep ratio 0.
        """
        labels = torch.as_tensor(labels).long()
        classes = 2 if self.num_outputs == 1 else self.num_outputs
        held = torch.zeros(self.buckets, classes, dtype=torch.float64)  # texts of each class
        for start in range(0, len(ids), batch):
            rows, counts = self.features(ids[start : start + batch])
            label = labels[start : start + batch].unsqueeze(1).expand_as(rows)
            flat = rows.reshape(-1) * classes + label.reshape(-1)
            held.view(-1).index_add_(0, flat, counts.reshape(-1).to(torch.float64))
        seen = held.sum(dim=1) > 0
        inside = held[:, 1:] if self.num_outputs == 1 else held
        p = inside + alpha
        q = held.sum(dim=1, keepdim=True) - inside + alpha
        ratio = torch.log((p / p.sum(dim=0)) / (q / q.sum(dim=0)))
        self.ratio.copy_(torch.where(seen.unsqueeze(1), ratio, torch.zeros_like(ratio)).float())
        return int(seen.sum())

    def summary_extra(self) -> list[str]:
        return [
            f"Bag of 1..{self.order}-grams: {self.buckets:,} hashed buckets, "
            "Naive Bayes ratios x learned weights, sparse updates"
        ]


@register_model(
    "text-ngram-bag",
    "text",
    "Naive-Bayes-weighted bag of word n-grams read by a logistic layer (NBSVM-style)",
    help={"order": "longest n-gram (2: words and word pairs)", "buckets": "rows n-grams hash into"},
    example_settings={"buckets": 1009},
)
def text_ngram_bag(shape: TextShape, *, order: int = 2, buckets: int = 4_194_301) -> nn.Module:
    return NgramBag(
        shape.vocab_size, order, buckets, shape.padding_id, num_outputs=shape.num_outputs
    )
