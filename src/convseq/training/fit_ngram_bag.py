"""Fit an ``NgramBag`` on its own, before the network beside it trains, then freeze it.

The bag is a linear model over about a million n-gram weights: at the
network's one-cycle rate it either learns too slowly or, trained as long as
the network, overfits (on IMDB, validation accuracy peaks after one or two
passes at a constant 0.01 and falls after; docs/tcn.md). So it gets its own
short fit:
Naive Bayes ratios from the training reviews, then a few passes of Adam at
a constant rate, keeping the pass with the best validation accuracy, as the
trainer does for every model. It is then frozen, and the ensemble's
training updates only the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from convseq.config import Training
from convseq.data.batches import ArrayBatches
from convseq.models.ngram_bag import NgramBag
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer


@dataclass
class BagFitConfig:
    epochs: int = 2
    lr: float = 0.01
    batch_size: int = 100
    seed: int = 0


def fit_ngram_bag(
    bag: NgramBag,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    config: BagFitConfig,
) -> dict:
    """Train ``bag`` on (ids, labels) pairs, restore its best pass, freeze it; figures for metrics.json."""
    began = time.perf_counter()
    seen = bag.fit_ratios(*train)
    trainer = Trainer(
        bag,
        make_task("binary" if bag.num_outputs == 1 else "multiclass"),
        Training(epochs=config.epochs, optimizer="adam", lr=config.lr, seed=config.seed),
        progress=False,
    )
    batches = ArrayBatches(*train, config.batch_size, shuffle=True, seed=config.seed)
    trainer.fit(batches, ArrayBatches(*val, 256))
    bag.requires_grad_(False)
    best = trainer.history[trainer.best_epoch - 1]
    seconds = time.perf_counter() - began
    print(
        f"n-gram bag: {seen:,} buckets used, best of {config.epochs} passes: "
        f"pass {trainer.best_epoch}, validation accuracy {best['val_acc']:.4f}, {seconds:.0f} s"
    )
    return {
        "ngram_buckets_used": seen,
        "ngram_best_epoch": trainer.best_epoch,
        "ngram_val_acc": best["val_acc"],
        "ngram_seconds": round(seconds, 1),
    }
