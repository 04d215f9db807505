"""Text classification, one pipeline for every text run: the IMDB presets, ``convseq train
text`` and ``convseq.train_text``.

load -> split -> tokenizer (fitted on the training part only) -> model
(from its registry defaults; pretrained parts fitted first) -> fit with
per-epoch checkpoints -> the best epoch's weights saved with all prediction
needs -> validation and test scored once: accuracy, macro-F1, the
majority-class baseline, a confusion matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from convseq.config import ImdbSource, RunConfig
from convseq.data.batches import ArrayBatches
from convseq.data.buckets import LengthBuckets
from convseq.data.imdb import LABELS as IMDB_LABELS
from convseq.data.imdb import TextSplit, load_imdb, pick, split_imdb, subset
from convseq.data.text_files import check_classes, read_labelled_texts, read_texts
from convseq.data.tokenize import encode, fit_tokenizer, save_tokenizer
from convseq.errors import ModelDoesNotFit, UserError
from convseq.evaluation import classification
from convseq.evaluation.plots import plot_curves
from convseq.models.registry import TextShape, get_model
from convseq.models.summary import summarize
from convseq.runs import RunFolder
from convseq.training.prepare_text import prepare_members
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, predict
from convseq.wording import plural

LENGTH_PERCENTILE = 95  # --max-len 0: most texts whole, a few long ones cut
MAX_AUTO_LENGTH = 2000


@dataclass
class TextData:
    """Labelled splits with integer classes (``labels[i]`` names class ``i``), and where
    unlabelled texts for pretraining come from."""

    train: TextSplit
    val: TextSplit
    test: TextSplit | None
    labels: list[str]
    unlabelled: list[str]


def load(config: RunConfig) -> TextData:
    """The run's splits: IMDB's, or the user's file with a stratified validation split."""
    source, seed = config.source, config.train.seed
    if isinstance(source, ImdbSource):
        pretraining = bool(config.model_settings.get("pretrain_epochs"))
        data = load_imdb(source.data_dir or None, pretraining, source.labels)
        train, val, test = split_imdb(data, source.validation_split, source.limit, seed)
        unsup = data.unsup[: 2 * source.limit] if source.limit else data.unsup
        return TextData(train, val, test, IMDB_LABELS[source.labels], unsup)
    classes = source.classes or None
    given = read_labelled_texts(
        config.frame if config.frame is not None else source.data,
        source.text_column,
        source.label_column,
        source.encoding,
        classes,
    )
    for note in given.skip_notes():
        print(note)
    labels = classes or check_classes(given, source.label_column)
    missing = [c for c in labels if c not in set(given.labels)]
    if missing:
        raise UserError(
            f"{given.source} has no texts of class {missing[0]!r}; drop it from --classes"
        )
    everything = given.to_split(labels)

    def read(path: str) -> TextSplit | None:
        if not path:
            return None
        other = read_labelled_texts(
            path, source.text_column, source.label_column, source.encoding, classes
        )
        for note in other.skip_notes():
            print(note)
        return other.to_split(labels)

    if source.val:
        train, val = everything, read(source.val)
    else:
        train_idx, val_idx = stratified_split(everything.labels, source.validation_split, seed)
        train, val = pick(everything, train_idx), pick(everything, val_idx)
    unlabelled = []
    if source.unlabelled:
        if not config.model_settings.get("pretrain_epochs"):
            raise UserError(
                "--unlabelled is read only to pretrain region vectors; pass --model "
                "text-region-cnn --pretrain-epochs 1 (or more), or leave --unlabelled out"
            )
        texts = read_texts(source.unlabelled, source.text_column, source.encoding)
        unlabelled = [t for t in texts if t.strip()]
        print(f"{Path(source.unlabelled).name}: {plural(len(unlabelled), 'unlabelled text')}")
    return TextData(subset(train, source.limit, seed), val, read(source.test), labels, unlabelled)


def stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list, list]:
    """Seeded train/validation indices holding out ``fraction`` of every class."""
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    train, val = [], []
    for k in np.unique(labels_array):
        members = rng.permutation(np.flatnonzero(labels_array == k))
        cut = int(round(len(members) * fraction))
        val.extend(members[:cut].tolist())
        train.extend(members[cut:].tolist())
    if not train or not val:
        raise UserError(
            f"{len(labels)} texts are too few for a {fraction} validation split; "
            "add texts or pass a validation file with --val"
        )
    return rng.permutation(train).tolist(), rng.permutation(val).tolist()


def run(config: RunConfig, folder: RunFolder, outputs: dict | None = None) -> dict:
    """Train and score a text classifier into ``folder``; the metrics for metrics.json.

    ``outputs``, when given, receives each split's raw outputs and classes, the
    class names and the majority class (what ``--model auto`` compares and averages).
    """
    began, cpu_began = time.perf_counter(), time.process_time()
    shaping, train_settings, seed = config.shaping, config.train, config.train.seed
    seed_everything(seed)
    data = load(config)
    binary = len(data.labels) == 2

    tokenizer = fit_tokenizer(data.train.texts, shaping.vocab_size, shaping.keep_marks)
    vocabulary = tokenizer.get_vocab_size()

    seed_everything(seed)
    shape = TextShape(vocab_size=vocabulary, num_outputs=1 if binary else len(data.labels))
    model = get_model(config.model, "text").make(shape, config.model_settings)
    min_length = getattr(model, "min_length", 1)
    length_note = ""
    if not shaping.max_len:  # from the data; recorded in config.json, which prediction reads
        lengths = [len(e.ids) for e in tokenizer.encode_batch(data.train.texts)]
        chosen = max(min(int(np.ceil(np.percentile(lengths, LENGTH_PERCENTILE))), MAX_AUTO_LENGTH),
                     min_length)  # fmt: skip
        config.shaping = shaping = replace(shaping, max_len=chosen)
        length_note = (
            f" (the {LENGTH_PERCENTILE}th percentile of the training texts' tokens, "
            f"at least {min_length} and at most {MAX_AUTO_LENGTH}; --max-len sets it)"
        )

    def as_ids(texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(
            encode(tokenizer, texts, shaping.max_len, shaping.truncating, shaping.padding)
        )

    def targets(split: TextSplit) -> torch.Tensor:
        return torch.tensor(split.labels, dtype=torch.float32 if binary else torch.int64)

    x_train, x_val = as_ids(data.train.texts), as_ids(data.val.texts)
    counts = f"{len(data.train)} train / {len(data.val)} validation"
    if data.test is not None:
        counts += f" / {len(data.test)} test"
    print(
        f"{config.dataset}: {counts} texts, {len(data.labels)} classes, vocabulary "
        f"{plural(vocabulary, 'word')} (--vocab-size {shaping.vocab_size}), length "
        f"{shaping.max_len}{length_note}"
    )
    if shaping.max_len < min_length:
        why = getattr(model, "min_length_why", "")
        raise ModelDoesNotFit(
            f"--max-len {shaping.max_len} is too short for {config.model}, which needs at least "
            f"{min_length} tokens{f' ({why})' if why else ''}; pass --max-len {min_length} or more"
        )
    prepared = prepare_members(
        model,
        config.model_settings,
        as_ids,
        (x_train, targets(data.train)),
        (x_val, targets(data.val)),
        lambda: data.unlabelled + data.train.texts,
        folder.shared("region_context.safetensors"),
        seed,
        train_settings.batch_size,
        shaping.padding,
    )
    save_tokenizer(tokenizer, folder.file("tokenizer.json"))
    summary, params = summarize(model, x_train[:2])
    print(summary)

    task = make_task("binary" if binary else "multiclass")

    def batches(ids, split_targets, size, shuffle=False):
        if shaping.length_buckets:  # similar lengths, shared padding cut (models that mask it)
            return LengthBuckets(
                ids, split_targets, size, shaping.padding, shuffle=shuffle, seed=seed
            )
        return ArrayBatches(ids, split_targets, size, shuffle=shuffle, seed=seed)

    majority = classification.majority_class(np.asarray(data.train.labels), len(data.labels))
    val_baseline = float(np.mean(np.asarray(data.val.labels) == majority))

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            ["acc", "loss"],
            folder.file("curves.png"),
            baselines={"acc": {f"majority class ({data.labels[majority]})": val_baseline}},
            title=f"{config.preset} on {config.dataset}: {config.model}",
        )

    trainer = Trainer(
        model,
        task,
        train_settings,
        folder.shared("checkpoint.pt"),
        on_epoch_end=after_epoch,
        deadline=config.deadline,
        final_passes=1 + (len(data.test) / len(data.val) if data.test is not None else 0),
    )
    trainer.fit(
        batches(x_train, targets(data.train), train_settings.batch_size, shuffle=True),
        batches(x_val, targets(data.val), 256),
    )
    train_counts = np.bincount(data.train.labels, minlength=len(data.labels)).tolist()
    folder.save_weights(
        model,
        {
            "model": config.model,
            "shape": shape.__dict__,
            "settings": config.model_settings,
            "text": {"labels": data.labels, "train_counts": train_counts},
        },
    )
    best = trainer.history[trainer.best_epoch - 1]
    metrics = {
        "experiment": config.preset,
        "dataset": config.dataset,
        "model": config.model,
        "params": params,
        "vocabulary": vocabulary,
        "max_len": shaping.max_len,
        "classes": data.labels,
        "best_epoch": trainer.best_epoch,
        "monitor": trainer.monitor,
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        **prepared,
    }

    def raw_outputs(split: TextSplit) -> torch.Tensor:
        """The model's raw outputs in the split's order, in one pass (length buckets if used)."""
        data_batches = batches(as_ids(split.texts), targets(split), 256)
        raw = predict(model, (inputs for inputs, _ in data_batches.epoch(0)))
        if not isinstance(data_batches, LengthBuckets):
            return raw
        restored = torch.empty_like(raw)
        restored[data_batches.order()] = raw
        return restored

    for name, split in (("val", data.val), ("test", data.test)):
        if split is None:
            continue
        raw = raw_outputs(split)
        if outputs is not None:
            outputs[name] = (raw, np.asarray(split.labels))
        scores = classification.scores(np.asarray(split.labels), raw.numpy(), data.labels, majority)
        if name == "test":
            loss = task.loss(raw, targets(split)).item()
            metrics.update(test_acc=scores["acc"], test_loss=loss)
        metrics.update(classification.split_metrics(name, scores))
        print(classification.split_line(name, scores))
    if outputs is not None:
        outputs.update(labels=data.labels, majority=majority)
    classification.plot_last_confusion(
        metrics, data.labels, folder.file("confusion.png"), config.dataset
    )
    metrics.update(
        seconds_per_epoch=float(np.mean([row["seconds"] for row in trainer.history])),
        epochs_run=len(trainer.history),
        # wall and CPU time of the whole run: on a shared machine, CPU time bounds a quiet one's
        total_seconds=round(time.perf_counter() - began, 1),
        cpu_seconds=round(time.process_time() - cpu_began, 1),
        torch_threads=torch.get_num_threads(),
    )
    return metrics
