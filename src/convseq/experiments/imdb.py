"""IMDB sentiment experiments: data -> tokenizer -> model -> fit -> test -> plots.

Validation is the last 20% of the training set after a seeded shuffle, as
Keras's ``validation_split`` takes it; the tokenizer is fitted on the other
80% only, and the test split is touched once, with the best epoch's weights.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from convseq.data.batches import ArrayBatches
from convseq.data.buckets import LengthBuckets
from convseq.data.imdb import TextSplit, load_imdb
from convseq.data.tokenize import encode, fit_tokenizer, save_tokenizer
from convseq.errors import UserError
from convseq.evaluation.plots import plot_curves
from convseq.experiments.registry import TRAINING_KEYS, Experiment, register
from convseq.models import build_model
from convseq.models.summary import summarize
from convseq.training.run_folder import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import TrainConfig, Trainer, evaluate

TEXT_DEFAULTS = {
    "epochs": 10,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "rmsprop",
    "weight_decay": 0.0,
    "schedule": "none",
    "grad_clip": 0.0,
    "patience": 0,
    "seed": 0,
    "vocab_size": 10_000,
    "max_len": 500,
    "truncating": "pre",
    "padding": "pre",
    "validation_split": 0.2,
    "data_dir": "",
    "limit": 0,
}
TEXT_HELP = {
    "vocab_size": "vocabulary size including the padding and out-of-vocabulary ids",
    "max_len": "tokens per review after cutting and padding",
    "truncating": "which end to cut long reviews from: pre (keep the last tokens, Keras's default) or post",
    "padding": "which end to pad short reviews at: pre (Keras's default) or post",
    "validation_split": "fraction of the shuffled training set held out for validation",
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


def run_text_experiment(
    settings: dict, folder: RunFolder, model_name: str, model_settings: dict
) -> dict:
    began, cpu_began = time.perf_counter(), time.process_time()
    seed = settings["seed"]
    seed_everything(seed)
    data = load_imdb(settings["data_dir"] or None)
    train_all = subset(data.train, settings["limit"], seed)
    test = subset(data.test, settings["limit"], seed + 1)
    train, val = split_validation(train_all, settings["validation_split"], seed)

    tokenizer = fit_tokenizer(train.texts, settings["vocab_size"])
    save_tokenizer(tokenizer, folder.file("tokenizer.json"))
    as_ids = lambda split: torch.from_numpy(  # noqa: E731
        encode(
            tokenizer, split.texts, settings["max_len"], settings["truncating"], settings["padding"]
        )
    )
    labels = lambda split: torch.tensor(split.labels, dtype=torch.float32)  # noqa: E731
    x_train, x_val, x_test = as_ids(train), as_ids(val), as_ids(test)
    print(
        f"IMDB: {len(train)} train / {len(val)} validation / {len(test)} test reviews, "
        f"vocabulary {tokenizer.get_vocab_size()}, length {settings['max_len']}"
    )

    seed_everything(seed)
    model = build_model(model_name, vocab_size=settings["vocab_size"], **model_settings)
    min_length = getattr(model, "min_length", 1)
    if settings["max_len"] < min_length:
        raise UserError(
            f"--max-len {settings['max_len']} is too short for {model_name}, which needs at least "
            f"{min_length} tokens; pass --max-len {min_length} or more"
        )
    summary, params = summarize(model, x_train[:2])
    print(summary)

    task = make_task("binary")
    if settings.get("length_buckets"):
        # batches of similar length with the shared padding cut off (models that mask padding)
        padding = settings["padding"]
        train_batches = LengthBuckets(
            x_train, labels(train), settings["batch_size"], padding, shuffle=True, seed=seed
        )
        val_batches = LengthBuckets(x_val, labels(val), 256, padding, shuffle=False)
        test_batches = LengthBuckets(x_test, labels(test), 256, padding, shuffle=False)
    else:
        train_batches = ArrayBatches(
            x_train, labels(train), settings["batch_size"], shuffle=True, seed=seed
        )
        val_batches = ArrayBatches(x_val, labels(val), 256)
        test_batches = ArrayBatches(x_test, labels(test), 256)

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history, ["acc", "loss"], folder.file("curves.png"), title=folder.path.name
        )

    config = TrainConfig(**{k: settings[k] for k in TRAINING_KEYS})
    trainer = Trainer(
        model, task, config, checkpoint=folder.file("checkpoint.pt"), on_epoch_end=after_epoch
    )
    trainer.fit(train_batches, val_batches)
    folder.save_weights(model, {"model": model_name, "model_settings": model_settings})
    test_metrics = evaluate(model, task, test_batches)
    best = trainer.history[trainer.best_epoch - 1]
    metrics = {
        "experiment": settings["experiment"],
        "dataset": "imdb",
        "model": model_name,
        "params": params,
        "best_epoch": trainer.best_epoch,
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        "test_acc": test_metrics["acc"],
        "test_loss": test_metrics["loss"],
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in trainer.history])),
        "epochs_run": len(trainer.history),
        # wall and CPU time of the whole run (data, tokenizer, training, test): on a
        # machine shared with other jobs, CPU time bounds what a quiet machine needs
        "total_seconds": round(time.perf_counter() - began, 1),
        "cpu_seconds": round(time.process_time() - cpu_began, 1),
        "torch_threads": torch.get_num_threads(),
    }
    return metrics


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
        defaults=dict(TEXT_DEFAULTS),
        run=_reference,
        help=TEXT_HELP,
        check=check_text_settings,
    )
)
