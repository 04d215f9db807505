"""``convseq train text``: a text classifier from the user's own labelled file.

Reads the file, maps string labels to classes (saved in ``labels.json``),
holds out a seeded, stratified validation split unless a validation file is
given, trains through the same flow as the IMDB presets, and reports accuracy
and macro-F1 next to the majority-class baseline, with a confusion matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convseq.data.imdb import TextSplit
from convseq.data.text_files import LabelledTexts, check_classes, read_labelled_texts
from convseq.errors import UserError, closest
from convseq.evaluation import classification
from convseq.experiments.imdb import TEXT_DEFAULTS, TEXT_HELP, check_text_settings, subset
from convseq.experiments.registry import Experiment
from convseq.training.run_folder import RunFolder
from convseq.workflows.text_classifier import TextSplits, train_text_classifier

TRAIN_TEXT_DEFAULTS = {
    **{k: v for k, v in TEXT_DEFAULTS.items() if k != "data_dir"},
    "data": "",
    "text_column": "text",
    "label_column": "label",
    "val": "",
    "test": "",
    "encoding": "utf-8",
    "classes": "",
    "model": "text-cnn",
    "model_settings": "{}",
    "shards": 1,
}
TRAIN_TEXT_HELP = {
    **TEXT_HELP,
    "max_len": "tokens per text after cutting and padding",
    "validation_split": "fraction held out (stratified, seeded) for validation when no --val file is given",
    "limit": "use only N training texts (0 = all), for quick trials",
    "text_column": "column (or JSON field) holding the texts",
    "label_column": "column (or JSON field) holding the class labels",
    "val": "labelled file for validation instead of a split of DATA",
    "test": "labelled file scored once, with the best epoch's weights",
    "encoding": "text encoding of the files",
    "classes": "comma-separated classes to keep, in this order (others are skipped), e.g. neg,pos",
    "model": "registered text model to train",
    "model_settings": "JSON object of model settings, e.g. '{\"embed_dim\": 64}'",
}


def parse_classes(value: str) -> list[str] | None:
    classes = [c.strip() for c in value.split(",") if c.strip()] if value else []
    if value and len(set(classes)) < 2:
        raise UserError(f"--classes needs at least two different classes, got {value!r}")
    return classes or None


def parse_model_settings(value: str) -> dict:
    try:
        parsed = json.loads(value or "{}")
    except json.JSONDecodeError as exc:
        raise UserError(
            f"--model-settings must be a JSON object ({exc.msg}); pass e.g. '{{\"embed_dim\": 64}}'"
        ) from None
    if not isinstance(parsed, dict):
        raise UserError("--model-settings must be a JSON object, e.g. '{\"embed_dim\": 64}'")
    return parsed


def check_train_text(settings: dict) -> None:
    """Refuse impossible settings before a run folder is made."""
    from convseq.models import list_models

    check_text_settings(settings)
    if not settings["data"]:
        raise UserError("convseq train text needs a DATA file or folder; see --help")
    if settings["shards"] > 1 and settings["model"] != "text-cnn":
        raise UserError(
            f"--shards {settings['shards']} works with --model text-cnn only, not "
            f"{settings['model']!r}; use --shards 1"
        )
    for key in ("data", "val", "test"):
        if settings[key] and not Path(settings[key]).exists():
            flag = "DATA" if key == "data" else f"--{key}"
            raise UserError(f"{flag} {settings[key]} does not exist; pass an existing file")
    text_models = [m for m in list_models() if m.startswith("text-")]
    if settings["model"] not in text_models:
        raise UserError(
            f"unknown text model {settings['model']!r}{closest(settings['model'], text_models)}; "
            f"choose one of {', '.join(text_models)}"
        )
    parse_model_settings(settings["model_settings"])
    parse_classes(settings["classes"])


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


def pick(split: TextSplit, indices: list[int]) -> TextSplit:
    return TextSplit([split.texts[i] for i in indices], [split.labels[i] for i in indices])


def read_file(path: str, settings: dict, classes: list[str] | None) -> LabelledTexts:
    data = read_labelled_texts(
        path, settings["text_column"], settings["label_column"], settings["encoding"], classes
    )
    for note in data.skip_notes():
        print(note)
    return data


def class_names(data: LabelledTexts, settings: dict, classes: list[str] | None) -> list[str]:
    if not classes:
        return check_classes(data, settings["label_column"])
    missing = [c for c in classes if c not in set(data.labels)]
    if missing:
        raise UserError(
            f"{data.source} has no texts of class {missing[0]!r}; drop it from --classes"
        )
    return classes


def run_train_text(settings: dict, folder: RunFolder) -> dict:
    seed = settings["seed"]
    classes = parse_classes(settings["classes"])
    data = read_file(settings["data"], settings, classes)
    labels = class_names(data, settings, classes)
    everything = data.to_split(labels)
    if settings["val"]:
        train = subset(everything, settings["limit"], seed)
        val = read_file(settings["val"], settings, classes).to_split(labels)
    else:
        train_idx, val_idx = stratified_split(everything.labels, settings["validation_split"], seed)
        train, val = pick(everything, train_idx), pick(everything, val_idx)
        train = subset(train, settings["limit"], seed)
    test = (
        read_file(settings["test"], settings, classes).to_split(labels)
        if settings["test"]
        else None
    )
    counts = np.bincount(train.labels, minlength=len(labels))
    folder_labels = {
        "labels": labels,
        "train_counts": dict(zip(labels, counts.tolist(), strict=True)),
        "text_column": settings["text_column"],
        "label_column": settings["label_column"],
    }
    from convseq.atomic import write_json

    write_json(folder.file("labels.json"), folder_labels)
    majority = classification.majority_class(np.asarray(train.labels), len(labels))
    val_true = np.asarray(val.labels)
    val_baseline = float(np.mean(val_true == majority))
    name = Path(settings["data"]).stem or Path(settings["data"]).name
    trained = train_text_classifier(
        TextSplits(name, train, val, test, labels),
        settings,
        folder,
        settings["model"],
        parse_model_settings(settings["model_settings"]),
        baselines={"acc": {f"majority class ({labels[majority]})": val_baseline}},
    )
    metrics = dict(trained.metrics)
    metrics["classes"] = labels
    report_split = "test" if test is not None else "val"
    for split_name, split in (("val", val), ("test", test)):
        if split is None:
            continue
        scores = classification.scores(
            np.asarray(split.labels), trained.logits(split), labels, majority
        )
        metrics[f"{split_name}_macro_f1"] = scores["macro_f1"]
        metrics[f"baseline_{split_name}_acc"] = scores["baseline_acc"]
        metrics[f"baseline_{split_name}_macro_f1"] = scores["baseline_macro_f1"]
        print(
            f"{split_name}: acc {scores['acc']:.4f}, macro-F1 {scores['macro_f1']:.4f} | "
            f"majority-class baseline ({scores['baseline_class']!r}): "
            f"acc {scores['baseline_acc']:.4f}, macro-F1 {scores['baseline_macro_f1']:.4f}"
        )
        if split_name == report_split:
            metrics["baseline_class"] = scores["baseline_class"]
            metrics["per_class"] = scores["per_class"]
            metrics["confusion"] = {"split": split_name, "matrix": scores["confusion"]}
            classification.plot_confusion(
                np.asarray(scores["confusion"]),
                labels,
                folder.file("confusion.png"),
                title=f"{name}: {split_name} confusion (rows: true)",
            )
    return metrics


TRAIN_TEXT = Experiment(
    name="train-text",
    description="a text classifier trained on your own labelled file",
    dataset="",
    defaults=TRAIN_TEXT_DEFAULTS,
    run=run_train_text,
    help=TRAIN_TEXT_HELP,
    check=check_train_text,
)
