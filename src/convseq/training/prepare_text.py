"""Parts of a text model that are fitted before the model trains: pretrained region vectors and
n-gram bags.

The text pipeline calls ``prepare_members`` on every freshly built model. It
looks at the members, not at the model's name: any ``RegionCNN`` with
pretrained-context layers gets region vectors learned from unlabelled text
(the texts given, never the validation or test ones), cached in the run
folder so a resumed run does not pretrain again; any ``NgramBag`` in an
ensemble gets its own short fit and is frozen (``fit_ngram_bag``); a bag
trained as the model itself only gets its Naive Bayes ratios, and then
trains with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from convseq.atomic import write_with
from convseq.errors import UserError
from convseq.models.ensemble import members_of
from convseq.models.ngram_bag import NgramBag
from convseq.models.region import RegionCNN
from convseq.training import distributed
from convseq.training.fit_ngram_bag import BagFitConfig, fit_ngram_bag
from convseq.training.pretrain_context import PretrainConfig, pretrain_region_context


def prepare_members(
    model: torch.nn.Module,
    settings: dict,
    to_ids: Callable[[list[str]], torch.Tensor],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    unlabelled: Callable[[], list[str]],
    cache: Path,
    seed: int,
    batch_size: int,
    padding: str,
) -> dict:
    """Fit what must be fitted before training; figures for metrics.json."""
    stats: dict = {}
    members = members_of(model)
    contexts = [c for m in members if isinstance(m, RegionCNN) for c in m.contexts()]
    if contexts:
        stats.update(install_contexts(members, settings, to_ids, unlabelled, cache, seed, padding))
    for bag in (m for m in members if isinstance(m, NgramBag) and not m.fitted):
        if len(members) > 1:  # a member of an ensemble: fitted alone first, then frozen
            config = BagFitConfig(settings["ngram_epochs"], settings["ngram_lr"], batch_size, seed)
            stats.update(fit_ngram_bag(bag, train, val, config))
        else:
            bag.fit_ratios(*train)
    return stats


def install_contexts(members, settings, to_ids, unlabelled, cache: Path, seed, padding) -> dict:
    """Pretrain region vectors for each context size (or reuse the cached ones) and load them.

    One file holds them all: ``table``/``bias`` for the first size,
    ``table_i``/``bias_i`` for the i-th after it.
    """
    sizes = settings["context_size"]
    names = [("table", "bias")] + [(f"table_{i}", f"bias_{i}") for i in range(1, len(sizes))]
    stats: dict = {}
    learned = None
    ranks = distributed.current()
    if not cache.exists() and ranks.main:  # under torchrun rank 0 pretrains, the others wait
        region = next(m for m in members if isinstance(m, RegionCNN))
        vocab_size = region.context.table.shape[0]
        ids, learned, seconds = to_ids(unlabelled()), [], 0.0
        for size in sizes:
            config = PretrainConfig(
                size=size,
                dim=settings["context_dim"],
                epochs=settings["pretrain_epochs"],
                seed=seed,
            )
            table, bias, size_stats = pretrain_region_context(ids, vocab_size, config, padding)
            learned.append((table, bias))
            seconds += size_stats["pretrain_seconds"]
            stats = stats or dict(size_stats)  # the first size's losses and counts
        stats["pretrain_seconds"] = round(seconds, 1)
        tensors = {}
        for (table_key, bias_key), (table, bias) in zip(names, learned, strict=True):
            tensors[table_key], tensors[bias_key] = table, bias
        write_with(cache, lambda tmp: save_file(tensors, str(tmp)))
    distributed.barrier(ranks)
    if learned is None:
        tensors = load_file(cache)
        if any(key not in tensors for pair in names for key in pair):
            raise UserError(
                f"{cache} does not hold region vectors for --context-size "
                f"{','.join(map(str, sizes))}; delete it to pretrain them again"
            )
        learned = [(tensors[table], tensors[bias]) for table, bias in names]
    for member in members:
        if not isinstance(member, RegionCNN):
            continue
        for context, (table, bias) in zip(member.contexts(), learned, strict=True):
            try:
                context.load(table, bias)
            except ValueError as error:  # a cache from other settings
                raise UserError(f"{cache}: {error}; delete it to pretrain again") from None
    return stats
