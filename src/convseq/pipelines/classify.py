"""Time-series classification, one pipeline for every run of labelled cases: the UCR/UEA presets,
``convseq train classify`` and ``convseq.train_classify``.

load (a UCR archive's TRAIN/TEST files, or the user's) -> stratified
validation split of the training file -> gaps filled, scaled with training
statistics, padded with NaN -> model (from its registry defaults) -> fit:
by gradient with per-epoch checkpoints, or in closed form (rocket: scored
on the validation split, then refitted on the whole training file) -> the
weights saved with the labels and the scaling -> validation and test scored
once: accuracy, macro-F1, confusion matrix, beside the majority class and
1-nearest-neighbour (Euclidean) baselines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convseq.atomic import write_json
from convseq.config import RunConfig, UcrArchive
from convseq.data.batches import ArrayBatches
from convseq.data.case_files import Cases, read_cases
from convseq.data.cases import Scaling, check_channels, padded, stratified_split
from convseq.data.locate import candidate_dirs
from convseq.errors import UserError
from convseq.evaluation import classification
from convseq.evaluation.nearest import nearest_neighbour
from convseq.evaluation.plots import plot_curves
from convseq.models.registry import CaseShape, get_model
from convseq.models.summary import summarize
from convseq.runs import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, evaluate, predict
from convseq.wording import plural

UCR_FORMS = (".ts", ".tsv", ".txt")


@dataclass
class CaseData:
    """The training file's cases (``train`` and ``val`` once split) and the test file's."""

    whole: Cases
    train: Cases
    val: Cases
    test: Cases | None
    split_from_train: bool


def archive_files(source: UcrArchive) -> tuple[Path, Path]:
    """NAME_TRAIN and NAME_TEST in the first data folder that holds both, in any UCR form."""
    if source.data_dir and not Path(source.data_dir).is_dir():
        raise UserError(
            f"data folder {source.data_dir} does not exist; pass an existing --data-dir"
        )
    folders = candidate_dirs(source.data_dir or None)
    for folder in folders:
        for suffix in UCR_FORMS:
            train, test = (
                folder / f"{source.archive}_{part}{suffix}" for part in ("TRAIN", "TEST")
            )
            if train.is_file() and test.is_file():
                return train, test
    raise UserError(
        f"{source.archive}_TRAIN and _TEST (.ts, .tsv or .txt) not found in "
        f"{', '.join(map(str, folders))}; put them in one of these folders, pass --data-dir or "
        "set CONVSEQ_DATA"
    )


def load(config: RunConfig) -> CaseData:
    source, seed = config.source, config.train.seed
    if isinstance(source, UcrArchive):
        train_path, test_path = archive_files(source)
        whole, test = read_cases(train_path), read_cases(test_path)
        val = None
    else:
        if not source.data:
            raise UserError(f"{config.preset} needs the training cases: pass TRAIN (a file)")

        def read(path: str) -> Cases | None:
            if not path:
                return None
            return read_cases(path, source.file_format, source.label_column, source.case_column,
                              source.time_column, source.encoding)  # fmt: skip

        whole, val, test = read(source.data), read(source.val), read(source.test)
    for cases in (whole, val, test):
        if cases is not None and not cases.classes:
            raise UserError(f"{cases.source} has no class labels (@classLabel false); "
                            "training and scoring need labelled cases")  # fmt: skip
    if len(whole.classes) < 2:
        raise UserError(
            f"{whole.source} has one class ({whole.classes[0]!r}); a classifier needs two"
        )
    for other in (val, test):
        if other is not None:
            check_channels(other, whole.channels)
            other.ids(whole.classes)  # an unknown class is refused here, naming the file
    check_channels(whole, whole.channels)
    if val is not None:
        return CaseData(whole, whole, val, test, False)
    train_idx, val_idx = stratified_split(whole.ids(whole.classes), source.validation_split, seed)
    return CaseData(whole, whole.pick(train_idx), whole.pick(val_idx), test, True)


def run(config: RunConfig, folder: RunFolder) -> dict:
    """Fit and score a classifier of cases into ``folder``; the metrics for metrics.json."""
    began, cpu_began = time.perf_counter(), time.process_time()
    seed = config.train.seed
    seed_everything(seed)
    data = load(config)
    labels = data.whole.classes
    binary = len(labels) == 2
    scaling = Scaling.fit(config.shaping.normalize, data.train)
    length = int(data.train.lengths.max())
    parts = {"whole": data.whole, "train": data.train, "val": data.val, "test": data.test}
    parts = {name: cases for name, cases in parts.items() if cases is not None}
    scaled = {name: scaling.apply(cases.series) for name, cases in parts.items()}
    ids = {name: cases.ids(labels) for name, cases in parts.items()}
    inputs = {name: torch.from_numpy(padded(series, length)) for name, series in scaled.items()}
    lengths = data.whole.lengths
    counts = f"{len(data.train)} train / {len(data.val)} validation"
    if data.test is not None:
        counts += f" / {len(data.test)} test"
    span = f"{lengths.min()}-{lengths.max()}" if lengths.min() != lengths.max() else f"{length}"
    print(f"{config.dataset}: {counts} cases, {len(labels)} classes, "
          f"{plural(data.whole.channels, 'channel')}, {span} steps, scaled per {scaling.how}")  # fmt: skip

    seed_everything(seed)
    shape = CaseShape(data.whole.channels, length, 1 if binary else len(labels))
    entry = get_model(config.model, "classify")
    model = entry.make(shape, config.model_settings)
    write_json(folder.file("normalization.json"), {"scaling": scaling.to_dict(), "labels": labels})
    summary, params = summarize(model, inputs["train"][:2])
    print(summary)

    def targets(name: str) -> torch.Tensor:
        return torch.tensor(ids[name], dtype=torch.float32 if binary else torch.int64)

    task = make_task("binary" if binary else "multiclass")
    majority = classification.majority_class(ids["whole"], len(labels))
    baselines = {}
    for name, reference in (("val", "train"), ("test", "whole")):  # 1-NN on the model's cases
        if name in ids:
            guess = nearest_neighbour(scaled[reference], ids[reference], scaled[name])
            matrix = classification.confusion_matrix(ids[name], guess, len(labels))
            baselines[f"nn_{name}_acc"] = classification.accuracy(matrix)
            baselines[f"nn_{name}_macro_f1"] = classification.macro_f1(matrix)

    extra = {}
    if entry.trainable:
        trainer = fit(model, task, config, folder, inputs["train"], targets("train"),
                      inputs["val"], targets("val"), baselines)  # fmt: skip
        history, best_epoch = trainer.history, trainer.best_epoch
        best = history[best_epoch - 1]
        seconds_per_epoch = float(np.mean([row["seconds"] for row in history]))
    else:
        began_fit = time.perf_counter()
        model.fit(inputs["train"], ids["train"])
        scores = evaluate(model, task, ArrayBatches(inputs["val"], targets("val"), 64))
        best = {"epoch": 0, **{f"val_{name}": value for name, value in scores.items()}}
        history, best_epoch, seconds_per_epoch = [best], 0, time.perf_counter() - began_fit
        folder.write_history(history)
        if data.split_from_train:  # scored on validation; the final model sees every case
            extra["alpha"] = model.fit(inputs["whole"], ids["whole"])
            extra["refit_on_whole_training_file"] = True
    train_counts = np.bincount(ids["whole"], minlength=len(labels)).tolist()
    folder.save_weights(
        model,
        {
            "model": config.model,
            "shape": shape.__dict__,
            "settings": config.model_settings,
            "cases": {"labels": labels, "scaling": scaling.to_dict(), "train_counts": train_counts},
        },
    )
    metrics = {
        "experiment": config.preset,
        "dataset": config.dataset,
        "collection": "ucr" if isinstance(config.source, UcrArchive) else "",
        "model": config.model,
        "seed": seed,
        **(
            {"kernel_seed": config.model_settings["kernel_seed"]}
            if "kernel_seed" in config.model_settings
            else {}
        ),  # fmt: skip
        "params": params,
        "classes": labels,
        "channels": data.whole.channels,
        "length": length,
        "scaling": scaling.how,
        "best_epoch": best_epoch,
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        **extra,
    }

    for name in ("val", "test"):
        if name not in ids:
            continue
        x = inputs[name]
        raw = predict(model, (x[i : i + 64] for i in range(0, len(x), 64)))
        scores = classification.scores(ids[name], raw.numpy(), labels, majority)
        if name == "test":
            metrics["test_acc"] = scores["acc"]
            if entry.trainable:  # rocket's scores are ridge outputs, not a trained loss
                metrics["test_loss"] = task.loss(raw, targets("test")).item()
        nearest = {key: baselines[f"nn_{name}_{key}"] for key in ("acc", "macro_f1")}
        metrics.update(classification.split_metrics(name, scores))
        metrics.update({f"nn_{name}_{key}": value for key, value in nearest.items()})
        print(
            f"{classification.split_line(name, scores)} | 1-NN Euclidean: acc "
            f"{nearest['acc']:.4f}, macro-F1 {nearest['macro_f1']:.4f}"
        )
    classification.plot_last_confusion(
        metrics, labels, folder.file("confusion.png"), config.dataset
    )
    metrics.update(
        seconds_per_epoch=seconds_per_epoch,
        epochs_run=len(history) if entry.trainable else 0,
        total_seconds=round(time.perf_counter() - began, 1),
        cpu_seconds=round(time.process_time() - cpu_began, 1),
        torch_threads=torch.get_num_threads(),
    )
    return metrics


def fit(model, task, config, folder, x_train, y_train, x_val, y_val, baselines) -> Trainer:
    """Gradient training with per-epoch history, curves and checkpoints; the best epoch kept."""
    seed = config.train.seed

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            ["acc", "loss"],
            folder.file("curves.png"),
            baselines={"acc": {"1-NN Euclidean (validation)": baselines["nn_val_acc"]}},
            title=f"{config.preset} on {config.dataset}: {config.model}",
        )

    trainer = Trainer(
        model, task, config.train, folder.shared("checkpoint.pt"), on_epoch_end=after_epoch
    )
    trainer.fit(
        ArrayBatches(x_train, y_train, config.train.batch_size, shuffle=True, seed=seed),
        ArrayBatches(x_val, y_val, 64),
    )
    return trainer
