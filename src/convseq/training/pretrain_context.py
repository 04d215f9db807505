"""Learn region vectors from unlabelled text: the two-view task of Johnson & Zhang (2015b).

For each sampled position t of a review, the window of ``size`` words centred
on t is embedded (bag of words -> ReLU) and trained to tell the words of the
``size`` positions just left and right of the window (its neighbours) from
words drawn from the unigram distribution raised to 3/4 (negative sampling).
The most frequent ``skip_top`` words are never targets: predicting "the" and
"and" teaches nothing about a region's meaning.

Everything is seeded; the same ids and settings give the same table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from convseq.data.batches import epoch_generator
from convseq.data.buckets import LengthBuckets
from convseq.errors import UserError
from convseq.models.region_context import NeighbourPredictor, centred_windows
from convseq.training.optim import DenseAndSparseAdam


@dataclass
class PretrainConfig:
    size: int = 5  # words per region
    dim: int = 100  # region vector size
    epochs: int = 1
    batch_size: int = 16  # reviews per step
    positions: int = 4096  # sampled positions per step
    negatives: int = 256  # sampled words per step, shared by its positions
    skip_top: int = 100  # most frequent words that are never targets (at most vocab/300)
    lr: float = 1e-2
    seed: int = 0

    def check(self) -> None:
        for name in ("size", "dim", "epochs", "batch_size", "positions", "negatives"):
            if getattr(self, name) < 1:
                raise UserError(f"pretraining {name} must be positive, got {getattr(self, name)}")


def neighbour_ids(ids: torch.Tensor, size: int, padding_id: int) -> torch.Tensor:
    """(batch, time) -> (batch, time, 2*size): the words just left and right of each window."""
    left = (size - 1) // 2
    right = size - 1 - left
    reach = size + max(left, right)
    padded = F.pad(ids, (reach, reach), value=padding_id)
    spans = padded.unfold(1, 2 * reach + 1, 1)  # (batch, time, 2*reach+1), centre at index reach
    before = spans[..., reach - left - size : reach - left]
    after = spans[..., reach + right + 1 : reach + right + 1 + size]
    return torch.cat([before, after], dim=-1)


def negative_sampler(ids: torch.Tensor, vocab_size: int, skip_top: int, first_word: int):
    """Sampling weights ~ count^0.75 over the words that may be targets."""
    counts = torch.bincount(ids.flatten(), minlength=vocab_size).double()
    counts[: first_word + skip_top] = 0
    weights = counts.pow(0.75)
    if weights.sum() == 0:
        raise UserError(
            f"no word outside the {skip_top} most frequent occurs in the unlabelled text; "
            "use more text or a smaller skip_top"
        )
    return weights / weights.sum()


def pretrain_region_context(
    ids: torch.Tensor,
    vocab_size: int,
    config: PretrainConfig,
    padding: str = "pre",
    padding_id: int = 0,
    unknown_id: int = 1,
    log=print,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Train on padded ``ids`` (n, max_len); returns (table, bias, stats) for ``RegionContext``."""
    config.check()
    if len(ids) == 0:
        raise UserError("no unlabelled text to pretrain region vectors on; pass some texts")
    began = time.perf_counter()
    torch.manual_seed(config.seed)
    model = NeighbourPredictor(vocab_size, config.size, config.dim, padding_id)
    tables = [model.inputs.weight, model.outputs.weight]
    optimizer = DenseAndSparseAdam([model.bias, model.output_bias], tables, lr=config.lr)
    first_word = max(padding_id, unknown_id) + 1
    skip_top = min(
        config.skip_top, vocab_size // 300
    )  # a small vocabulary has no stop words to spare
    target_floor = first_word + skip_top  # ids below are padding, unknown or too common
    sample_weights = negative_sampler(ids, vocab_size, skip_top, first_word)
    batches = LengthBuckets(
        ids, torch.zeros(len(ids)), config.batch_size, padding, shuffle=True, seed=config.seed
    )
    steps = config.epochs * len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    losses = []
    for epoch in range(1, config.epochs + 1):
        generator = epoch_generator(config.seed + 1, epoch)
        bar = tqdm(
            batches.epoch(epoch),
            total=len(batches),
            desc=f"pretraining {epoch}/{config.epochs}",
            disable=None,  # only on a terminal
            leave=False,
            unit="batch",
        )
        for batch, _ in bar:
            flat_ids = batch.reshape(-1)
            real = (flat_ids != padding_id).nonzero().squeeze(1)
            if len(real) > config.positions:
                real = real[torch.randperm(len(real), generator=generator)[: config.positions]]
            windows = centred_windows(batch, config.size, padding_id).reshape(-1, config.size)
            targets = neighbour_ids(batch, config.size, padding_id).reshape(-1, 2 * config.size)
            windows, targets = windows[real], targets[real]
            valid = targets >= target_floor
            negatives = torch.multinomial(
                sample_weights, config.negatives, replacement=True, generator=generator
            )
            vectors = model.regions(windows)
            positive = model.score(vectors, targets)
            negative = model.score(vectors, negatives)
            # each position: mean over its neighbours pulled up, mean over sampled words pushed down
            pulled = (F.softplus(-positive) * valid).sum() / valid.sum().clamp(min=1)
            pushed = F.softplus(negative).mean()
            loss = pulled + pushed
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        bar.close()
        recent = losses[-len(batches) :]
        log(
            f"pretraining region vectors: epoch {epoch}/{config.epochs}, "
            f"loss {sum(recent) / len(recent):.4f}, {time.perf_counter() - began:.0f} s"
        )
    table, bias = model.context()
    stats = {
        "pretrain_seconds": round(time.perf_counter() - began, 1),
        "pretrain_loss_first": losses[0],
        "pretrain_loss_last": sum(losses[-50:]) / len(losses[-50:]),
        "pretrain_texts": len(ids),
    }
    return table, bias, stats
