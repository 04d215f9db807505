"""Stronger IMDB presets: from-scratch convnets that aim past NBSVM-bigram (91.2%).

Both run through ``run_text_experiment`` (same run folder and metrics.json as
``imdb-cnn``) and differ from the reference in: a 30,000-word vocabulary,
reviews kept up to 800 tokens, batches grouped by length (so long reviews cost
only their own length), Adam with a one-cycle schedule, and models that mask
padding. docs/tcn.md has the measured runs behind the defaults.

- ``imdb-region-cnn``: Johnson & Zhang's seq-CNN, a convolution over one-hot
  words computed as region embeddings, with sparse Adam updates, plus region
  vectors pretrained on the 50,000 unlabelled reviews (their semi-supervised
  "tv-embedding", frozen) as extra input to every region layer; averaged
  with a Naive-Bayes-weighted bag of words and word pairs (NBSVM-style,
  fitted first on its own and frozen), whose mistakes differ from the
  convnet's.
- ``imdb-tcn``: a dilated residual TCN over word embeddings, for comparison.
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from convseq.atomic import write_with
from convseq.errors import UserError
from convseq.experiments.imdb import TEXT_DEFAULTS, TEXT_HELP, check_text_settings
from convseq.experiments.imdb import run_text_experiment as run_text
from convseq.experiments.registry import Experiment, register
from convseq.models.ensemble import members_of
from convseq.models.ngram_bag import NgramBag, check_bag_settings
from convseq.models.region import RegionCNN
from convseq.training.fit_ngram_bag import BagFitConfig, fit_ngram_bag
from convseq.training.pretrain_context import PretrainConfig, pretrain_region_context
from convseq.training.run_folder import RunFolder

STRONG_TEXT = {
    **TEXT_DEFAULTS,
    "vocab_size": 30_000,
    "max_len": 800,
    "optimizer": "adam",
    "schedule": "onecycle",
    "length_buckets": True,
    "keep_marks": False,
}
STRONG_HELP = {
    **TEXT_HELP,
    "length_buckets": "batch reviews of similar length and cut their shared padding (faster, same results)",
    "keep_marks": "keep '!' and '?' as tokens (other punctuation is dropped)",
    "head_dropout": "dropout on the pooled features before the output layer",
}


def int_list(text: str, option: str) -> list[int]:
    """Parse '1,2,4' from the command line into [1, 2, 4]."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UserError(f"--{option} must be positive integers separated by commas, got {text!r}")
    return values


# ------------------------------------------------------------------ region CNN
# The configuration with the best validation accuracy of the sweep in docs/tcn.md.
REGION_DEFAULTS = {
    **STRONG_TEXT,
    "epochs": 3,
    "batch_size": 100,
    "lr": 4e-3,
    "validation_split": 0.1,
    "region_sizes": "2,3",
    "channels": 400,
    "pool": "maxmean",
    "head_dropout": 0.5,
    "word_dropout": 0.0,
    "pretrain_epochs": 1,
    "context_size": "5",
    "context_dim": 200,
    "context_init": 0.01,
    "members": 1,
    "ngram_bag": True,
    "ngram_order": 2,
    "ngram_buckets": 4_194_301,
    "ngram_epochs": 2,
    "ngram_lr": 0.01,
}
REGION_HELP = {
    **STRONG_HELP,
    "region_sizes": "words per region, one region embedding per size, e.g. 3 or 2,3",
    "channels": "features per region embedding",
    "pool": "pooling over the review: max, or maxmean (max and mean side by side)",
    "word_dropout": "fraction of words blanked at random in each training batch",
    "pretrain_epochs": "passes over the unlabelled reviews to pretrain region vectors (0: no pretraining)",
    "context_size": "words per pretrained region; several sizes (e.g. 3,5) pretrain one set of vectors each",
    "context_dim": "size of a pretrained region vector",
    "context_init": "standard deviation of the initial map from pretrained vectors to features (0: torch's default)",
    "members": "networks trained side by side and averaged (an ensemble; each costs one more network's time)",
    "ngram_bag": "add a Naive-Bayes-weighted bag of n-grams (NBSVM-style logistic model) to the "
    "ensemble, fitted on its own first and then frozen",
    "ngram_order": "longest n-gram in the bag (2: words and word pairs)",
    "ngram_buckets": "rows the bag's n-grams are hashed into",
    "ngram_epochs": "passes of the bag's own fit (the best one on validation is kept)",
    "ngram_lr": "the bag's learning rate (Adam, constant)",
}


def check_region(settings: dict) -> None:
    check_text_settings(settings)
    int_list(settings["region_sizes"], "region-sizes")
    if settings["channels"] < 1:
        raise UserError(f"--channels must be positive, got {settings['channels']}")
    if settings["pool"] not in ("max", "maxmean"):
        raise UserError(f"--pool must be max or maxmean, got {settings['pool']!r}")
    if settings["optimizer"] not in ("adam", "adamw"):
        raise UserError(
            f"the region CNN trains sparse embedding tables, which need --optimizer adam or "
            f"adamw, got {settings['optimizer']!r}"
        )
    context_sizes(settings)
    if settings.get("ngram_bag"):
        check_bag_settings(
            settings["vocab_size"], settings["ngram_order"], settings["ngram_buckets"]
        )
        if settings["ngram_lr"] <= 0:
            raise UserError(f"--ngram-lr must be positive, got {settings['ngram_lr']}")
    for key in ("pretrain_epochs", "context_dim", "members", "ngram_epochs"):
        if settings.get(key, 1) < (0 if key == "pretrain_epochs" else 1):
            option = key.replace("_", "-")
            raise UserError(f"--{option} must be a positive number, got {settings[key]}")
    for key in ("head_dropout", "word_dropout"):
        if not 0 <= settings[key] < 1:
            option = key.replace("_", "-")
            raise UserError(f"--{option} must be in [0, 1), got {settings[key]}")


def _region(settings: dict, folder: RunFolder) -> dict:
    model_settings = {
        "sizes": int_list(settings["region_sizes"], "region-sizes"),
        "channels": settings["channels"],
        "pool": settings["pool"],
        "head_dropout": settings["head_dropout"],
        "word_dropout": settings["word_dropout"],
    }
    if settings.get("members", 1) > 1:  # runs saved before ensembles have no "members"
        model_settings["members"] = settings["members"]
    if settings.get("ngram_bag"):
        model_settings["ngram_bag"] = {
            "order": settings["ngram_order"],
            "buckets": settings["ngram_buckets"],
        }
    if settings["pretrain_epochs"]:
        sizes = context_sizes(settings)
        model_settings.update(
            context_size=sizes[0] if len(sizes) == 1 else sizes,
            context_dim=settings["context_dim"],
            context_init=settings["context_init"],
        )

    def prepare(model, to_ids, splits, unlabelled: list[str]) -> dict:
        stats = {}
        if settings["pretrain_epochs"]:
            stats.update(install_context(model, to_ids, unlabelled, settings, folder))
        if settings.get("ngram_bag"):
            stats.update(install_ngram_bag(model, to_ids, splits, settings))
        return stats

    return run_text(
        settings,
        folder,
        "text-region-cnn",
        model_settings,
        prepare=prepare,
        unlabelled=bool(settings["pretrain_epochs"]),
    )


def install_ngram_bag(model, to_ids, splits, settings: dict) -> dict:
    """Fit the ensemble's n-gram bag on the training reviews (validation picks its pass), frozen."""
    (bag,) = [m for m in members_of(model) if isinstance(m, NgramBag)]

    def labelled(split):
        return to_ids(split.texts), torch.tensor(split.labels, dtype=torch.float32)

    config = BagFitConfig(
        epochs=settings["ngram_epochs"],
        lr=settings["ngram_lr"],
        batch_size=settings["batch_size"],
        seed=settings["seed"],
    )
    return fit_ngram_bag(bag, labelled(splits.train), labelled(splits.val), config)


def context_sizes(settings: dict) -> list[int]:
    """--context-size as a list of sizes (a run recorded before lists were allowed holds an int)."""
    sizes = int_list(str(settings["context_size"]), "context-size")
    if len(set(sizes)) != len(sizes):
        raise UserError(
            f"--context-size lists a size twice ({settings['context_size']}); list each once"
        )
    return sizes


def install_context(model, to_ids, texts: list[str], settings: dict, folder: RunFolder) -> dict:
    """Pretrain region vectors on ``texts`` for each context size (or reuse them when resuming)
    and load them into every member of ``model``.

    One file holds them all: ``table``/``bias`` for the first size, ``table_i``/``bias_i``
    for the i-th after it.
    """
    saved = folder.file("region_context.safetensors")
    sizes = context_sizes(settings)
    names = [("table", "bias")] + [(f"table_{i}", f"bias_{i}") for i in range(1, len(sizes))]
    stats = {}
    if saved.exists():
        tensors = load_file(saved)
        if any(key not in tensors for pair in names for key in pair):
            raise UserError(
                f"{saved} does not hold region vectors for --context-size {settings['context_size']}; "
                "delete it to pretrain them again"
            )
        learned = [(tensors[table], tensors[bias]) for table, bias in names]
    else:
        ids, learned = to_ids(texts), []
        for size in sizes:
            config = PretrainConfig(
                size=size,
                dim=settings["context_dim"],
                epochs=settings["pretrain_epochs"],
                seed=settings["seed"],
            )
            table, bias, size_stats = pretrain_region_context(
                ids, settings["vocab_size"], config, padding=settings["padding"]
            )
            learned.append((table, bias))
            if not stats:  # the first size's losses and counts, the time of all sizes
                stats = dict(size_stats)
            else:
                seconds = stats["pretrain_seconds"] + size_stats["pretrain_seconds"]
                stats["pretrain_seconds"] = round(seconds, 1)
        tensors = {}
        for (table_key, bias_key), (table, bias) in zip(names, learned, strict=True):
            tensors[table_key], tensors[bias_key] = table, bias
        write_with(saved, lambda tmp: save_file(tensors, str(tmp)))
    for member in members_of(model):
        if not isinstance(member, RegionCNN):
            continue
        for context, (table, bias) in zip(member.contexts(), learned, strict=True):
            try:
                context.load(table, bias)
            except ValueError as error:  # a cache from other settings
                raise UserError(f"{saved}: {error}; delete it to pretrain again") from None
    return stats


register(
    Experiment(
        name="imdb-region-cnn",
        description="IMDB sentiment, region-embedding convnet (Johnson & Zhang seq2-CNN, regions 2+3) averaged with an NB-weighted bag of word pairs, 30k words, Adam one-cycle",
        dataset="imdb",
        defaults=REGION_DEFAULTS,
        run=_region,
        help=REGION_HELP,
        check=check_region,
    )
)

# ------------------------------------------------------------------------ TCN
TCN_DEFAULTS = {
    **STRONG_TEXT,
    "epochs": 4,
    "batch_size": 64,
    "lr": 2e-3,
    "embed_dim": 64,
    "channels": 64,
    "kernel_size": 3,
    "dilations": "1,2,4",
    "dropout": 0.1,
    "norm": "weight",
    "head_dropout": 0.5,
}
TCN_HELP = {
    **STRONG_HELP,
    "embed_dim": "word embedding size",
    "channels": "channels of every TCN block",
    "kernel_size": "kernel size of the dilated convolutions (odd: the TCN is non-causal here)",
    "dilations": "dilation of each residual block, e.g. 1,2,4",
    "dropout": "dropout after every convolution",
    "norm": "normalization in the blocks: weight, layer or none",
}


def check_tcn(settings: dict) -> None:
    from convseq.models.tcn import TCN

    check_text_settings(settings)
    dilations = int_list(settings["dilations"], "dilations")
    for key in ("embed_dim", "channels"):
        if settings[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} must be positive, got {settings[key]}")
    # building a tiny block runs every TCN check (odd kernel, norm name, dropout range)
    TCN(
        1,
        1,
        settings["kernel_size"],
        dilations,
        dropout=settings["dropout"],
        norm=settings["norm"],
        causal=False,
    )
    if not 0 <= settings["head_dropout"] < 1:
        raise UserError(f"--head-dropout must be in [0, 1), got {settings['head_dropout']}")


def _tcn(settings: dict, folder: RunFolder) -> dict:
    model_settings = {
        "embed_dim": settings["embed_dim"],
        "channels": settings["channels"],
        "kernel_size": settings["kernel_size"],
        "dilations": int_list(settings["dilations"], "dilations"),
        "dropout": settings["dropout"],
        "norm": settings["norm"],
        "head_dropout": settings["head_dropout"],
    }
    return run_text(settings, folder, "text-tcn", model_settings)


register(
    Experiment(
        name="imdb-tcn",
        description="IMDB sentiment, dilated residual TCN over embeddings (non-causal), 30k words, Adam one-cycle",
        dataset="imdb",
        defaults=TCN_DEFAULTS,
        run=_tcn,
        help=TCN_HELP,
        check=check_tcn,
    )
)
