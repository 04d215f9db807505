"""Train a text classifier on prepared splits: the flow behind every text run.

The IMDB presets and ``convseq train text`` differ only in where their texts
come from. From the splits on, both go through here: tokenizer (fitted on the
training split only) -> model -> summary -> fit with per-epoch checkpoints ->
best weights saved with everything prediction needs -> test split scored once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from convseq.data.batches import ArrayBatches
from convseq.data.buckets import LengthBuckets
from convseq.data.imdb import TextSplit
from convseq.data.tokenize import encode, fit_tokenizer, save_tokenizer
from convseq.errors import UserError
from convseq.evaluation.plots import plot_curves
from convseq.experiments.registry import TRAINING_KEYS
from convseq.models import build_model
from convseq.models.ensemble import members_of
from convseq.models.ngram_bag import NgramBag
from convseq.models.summary import summarize
from convseq.training.run_folder import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import TrainConfig, Trainer, evaluate, predict


@dataclass
class TextSplits:
    """Labelled splits with integer classes; ``labels[i]`` names class ``i``."""

    name: str
    train: TextSplit
    val: TextSplit
    test: TextSplit | None
    labels: list[str]


@dataclass
class TrainedText:
    model: torch.nn.Module
    metrics: dict
    logits: Callable[[TextSplit], np.ndarray]  # the trained model's raw outputs on a split


def text_model_settings(settings: dict, model_settings: dict, n_classes: int) -> dict:
    """The keyword arguments that rebuild the model: recorded with its weights."""
    built = {"vocab_size": settings["vocab_size"], **model_settings}
    if n_classes > 2:
        built["num_outputs"] = n_classes
    return built


def fit_unfitted_bags(model: torch.nn.Module, ids: torch.Tensor, labels, binary: bool) -> None:
    """Give any n-gram bag in ``model`` its Naive Bayes ratios from the training split.

    A preset fits its bag on its own first; a bag chosen as the model (or
    added through --model-settings) gets its ratios here and then trains
    with the rest of the model. Without ratios it could learn nothing.
    """
    bags = [m for m in members_of(model) if isinstance(m, NgramBag) and not m.fitted]
    if bags and not binary:
        raise UserError(
            "an n-gram bag scores two classes only, and these texts have more; pick another --model"
        )
    for bag in bags:
        bag.fit_ratios(ids, labels)


def train_text_classifier(
    data: TextSplits,
    settings: dict,
    folder: RunFolder,
    model_name: str,
    model_settings: dict,
    baselines: dict | None = None,
    prepare_model: Callable[
        [torch.nn.Module, Callable[[list[str]], torch.Tensor], TextSplits], dict
    ]
    | None = None,
) -> TrainedText:
    """Fit ``model_name`` on ``data`` into ``folder`` and return the model at its best epoch.

    ``prepare_model(model, texts_to_ids, data)``, if given, runs on the freshly
    built model before training (e.g. to install pretrained parts or fit a
    member on its own) and returns figures for metrics.json.
    """
    began, cpu_began = time.perf_counter(), time.process_time()
    seed = settings["seed"]
    seed_everything(seed)
    tokenizer = fit_tokenizer(
        data.train.texts, settings["vocab_size"], settings.get("keep_marks", False)
    )
    save_tokenizer(tokenizer, folder.file("tokenizer.json"))

    def as_ids(split: TextSplit | list[str]) -> torch.Tensor:
        texts = split.texts if isinstance(split, TextSplit) else split
        return torch.from_numpy(
            encode(
                tokenizer,
                texts,
                settings["max_len"],
                settings["truncating"],
                settings["padding"],
            )
        )

    binary = len(data.labels) == 2
    target_type = torch.float32 if binary else torch.int64

    def targets(split: TextSplit) -> torch.Tensor:
        return torch.tensor(split.labels, dtype=target_type)

    x_train, x_val = as_ids(data.train), as_ids(data.val)
    counts = f"{len(data.train)} train / {len(data.val)} validation"
    if data.test is not None:
        counts += f" / {len(data.test)} test"
    print(
        f"{data.name}: {counts} texts, {len(data.labels)} classes, "
        f"vocabulary {tokenizer.get_vocab_size()}, length {settings['max_len']}"
    )

    seed_everything(seed)
    built = text_model_settings(settings, model_settings, len(data.labels))
    try:
        model = build_model(model_name, **built)
    except TypeError as exc:
        raise UserError(
            f"model {model_name!r} does not accept these settings ({exc}); "
            "check --model-settings or pick another --model"
        ) from None
    min_length = getattr(model, "min_length", 1)
    if settings["max_len"] < min_length:
        raise UserError(
            f"--max-len {settings['max_len']} is too short for {model_name}, which needs at least "
            f"{min_length} tokens; pass --max-len {min_length} or more"
        )
    prepared = prepare_model(model, as_ids, data) if prepare_model else {}
    fit_unfitted_bags(model, x_train, targets(data.train), binary)
    summary, params = summarize(model, x_train[:2])
    print(summary)

    task = make_task("binary" if binary else "multiclass")

    def batches(ids, split_targets, size, shuffle=False):
        if settings.get("length_buckets"):
            # batches of similar length with the shared padding cut off (models that mask padding)
            return LengthBuckets(
                ids, split_targets, size, settings["padding"], shuffle=shuffle, seed=seed
            )
        return ArrayBatches(ids, split_targets, size, shuffle=shuffle, seed=seed)

    train_batches = batches(x_train, targets(data.train), settings["batch_size"], shuffle=True)
    val_batches = batches(x_val, targets(data.val), 256)

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            ["acc", "loss"],
            folder.file("curves.png"),
            baselines=baselines,
            title=folder.path.name,
        )

    config = TrainConfig(**{k: settings[k] for k in TRAINING_KEYS if k in settings})
    trainer = Trainer(
        model, task, config, checkpoint=folder.file("checkpoint.pt"), on_epoch_end=after_epoch
    )
    trainer.fit(train_batches, val_batches)
    folder.save_weights(
        model,
        {
            "model": model_name,
            "model_settings": built,
            "text": {
                "task": task.name,
                "labels": data.labels,
                "max_len": settings["max_len"],
                "truncating": settings["truncating"],
                "padding": settings["padding"],
                "train_counts": np.bincount(data.train.labels, minlength=len(data.labels)).tolist(),
            },
        },
    )
    best = trainer.history[trainer.best_epoch - 1]
    metrics = {
        "experiment": settings["experiment"],
        "dataset": data.name,
        "model": model_name,
        "params": params,
        "best_epoch": trainer.best_epoch,
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        **prepared,
    }
    if data.test is not None:
        test_metrics = evaluate(model, task, batches(as_ids(data.test), targets(data.test), 256))
        metrics.update(test_acc=test_metrics["acc"], test_loss=test_metrics["loss"])
    metrics.update(
        seconds_per_epoch=float(np.mean([row["seconds"] for row in trainer.history])),
        epochs_run=len(trainer.history),
        # wall and CPU time of the whole run (data, tokenizer, training, test): on a
        # machine shared with other jobs, CPU time bounds what a quiet machine needs
        total_seconds=round(time.perf_counter() - began, 1),
        cpu_seconds=round(time.process_time() - cpu_began, 1),
        torch_threads=torch.get_num_threads(),
    )

    def logits(split: TextSplit) -> np.ndarray:
        ids = as_ids(split)
        return predict(model, (ids[i : i + 256] for i in range(0, len(ids), 256))).numpy()

    return TrainedText(model, metrics, logits)
