"""IMDB sentiment experiments: data -> tokenizer -> model -> fit -> test -> plots.

Validation is the last 20% of the training set after a seeded shuffle, as
Keras's ``validation_split`` takes it; the tokenizer is fitted on the other
80% only, and the test split is touched once, with the best epoch's weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from convseq.data.imdb import TextSplit, load_imdb
from convseq.errors import UserError
from convseq.experiments.registry import TRAINING_DEFAULTS, Experiment, register
from convseq.training.run_folder import RunFolder
from convseq.workflows.text_classifier import TextSplits, train_text_classifier

TEXT_DEFAULTS = {
    "epochs": 10,
    "batch_size": 32,
    **TRAINING_DEFAULTS,
    "vocab_size": 10_000,
    "max_len": 500,
    "truncating": "pre",
    "padding": "pre",
    "validation_split": 0.2,
    "data_dir": "",
    "limit": 0,
    "threads": 0,
}
TEXT_HELP = {
    "vocab_size": "vocabulary size including the padding and out-of-vocabulary ids",
    "max_len": "tokens per review after cutting and padding",
    "truncating": "which end to cut long reviews from: pre (keep the last tokens, Keras's default) or post",
    "padding": "which end to pad short reviews at: pre (Keras's default) or post",
    "validation_split": "fraction of the shuffled training set held out for validation",
    "threads": "CPU threads for PyTorch (0 = its default)",
    "shards": "train each batch as N parts at once, one thread each (text-cnn only; 1 = off); "
    "--threads then applies to evaluation only",
}


def subset(split: TextSplit, n: int, seed: int) -> TextSplit:
    """A seeded random subset of ``n`` samples, keeping both classes."""
    if not n or n >= len(split):
        return split
    order = np.random.default_rng(seed).permutation(len(split))[:n]
    return TextSplit([split.texts[i] for i in order], [split.labels[i] for i in order])


def split_validation(split: TextSplit, fraction: float, seed: int) -> tuple[TextSplit, TextSplit]:
    if not 0 < fraction < 1:
        raise UserError(
            f"validation split must be between 0 and 1, got {fraction}; pass e.g. --validation-split 0.2"
        )
    order = np.random.default_rng(seed).permutation(len(split))
    cut = int(round(len(split) * (1 - fraction)))
    if cut == 0 or cut == len(split):
        raise UserError(
            f"{len(split)} samples are too few for a {fraction} validation split; use more data"
        )
    pick = lambda idx: TextSplit([split.texts[i] for i in idx], [split.labels[i] for i in idx])  # noqa: E731
    return pick(order[:cut]), pick(order[cut:])


def imdb_splits(data, settings: dict) -> tuple[TextSplit, TextSplit, TextSplit]:
    """The training part, validation and test reviews a run with ``settings`` uses.

    Tools that score a finished run read its config.json and call this, so
    they hold out exactly the reviews the run did.
    """
    seed, limit = settings["seed"], settings.get("limit", 0)
    train, val = split_validation(
        subset(data.train, limit, seed), settings["validation_split"], seed
    )
    return train, val, subset(data.test, limit, seed + 1)


def run_text_experiment(
    settings: dict,
    folder: RunFolder,
    model_name: str,
    model_settings: dict,
    prepare: Callable[[torch.nn.Module, Callable, TextSplits, list[str]], dict] | None = None,
    unlabelled: bool = False,
) -> dict:
    """Train ``model_name`` on IMDB (80/20 seeded split of the training set) and score the test set.

    ``prepare(model, texts_to_ids, splits, unlabelled_texts)`` runs on the
    built model before training. With ``unlabelled`` its texts are what can
    be learned from text alone: the 50,000 unlabelled reviews plus the
    training part's own reviews (never the validation or test ones).
    """
    data = load_imdb(settings["data_dir"] or None, with_unsup=unlabelled)
    train, val, test = imdb_splits(data, settings)
    splits = TextSplits("imdb", train, val, test, labels=["neg", "pos"])
    texts = []
    if unlabelled:
        unsup = data.unsup[: 2 * settings["limit"]] if settings["limit"] else data.unsup
        texts = unsup + train.texts
    hook = None
    if prepare is not None:
        hook = lambda model, to_ids, given: prepare(model, to_ids, given, texts)  # noqa: E731
    trained = train_text_classifier(
        splits, settings, folder, model_name, model_settings, prepare_model=hook
    )
    return trained.metrics


def check_text_settings(settings: dict) -> None:
    from convseq.data.tokenize import SIDES

    if settings["max_len"] < 1:
        raise UserError(
            f"--max-len must be a positive number of tokens, got {settings['max_len']}; pass e.g. --max-len 500"
        )
    if settings["vocab_size"] < 3:
        raise UserError(
            f"--vocab-size must be at least 3, got {settings['vocab_size']}; pass e.g. --vocab-size 10000"
        )
    for key in ("truncating", "padding"):
        if settings[key] not in SIDES:
            raise UserError(f"--{key} must be 'pre' or 'post', got {settings[key]!r}")
    if not 0 < settings["validation_split"] < 1:
        raise UserError(
            f"--validation-split must be between 0 and 1, got {settings['validation_split']}"
        )


def _reference(settings: dict, folder: RunFolder) -> dict:
    return run_text_experiment(settings, folder, "text-cnn", {"embed_dim": 128})


register(
    Experiment(
        name="imdb-cnn",
        description="IMDB sentiment, the reference 1D convnet (Embedding 128 -> Conv1D x2 -> Dense), RMSprop, 10 epochs",
        dataset="imdb",
        # one thread per half batch: the fused layers' many small ops lose more to
        # thread synchronisation than a second core gives back (docs/speed.md)
        defaults={**TEXT_DEFAULTS, "threads": 1, "shards": 2},
        run=_reference,
        help=TEXT_HELP,
        check=check_text_settings,
    )
)
