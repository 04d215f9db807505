"""How much do pretrained region vectors know about sentiment? A quick linear probe.

Pretrains region vectors on the 50,000 unlabelled IMDB reviews plus the
training part (as ``convseq run imdb-region-cnn --pretrain-epochs N`` does),
then fits a logistic regression on their mean- and max-pooled values over
5,000 training reviews and scores it on the 2,500 validation reviews. The
labels are never seen by the pretraining, so the probe's accuracy measures
what the vectors learned from text alone; it takes minutes where a full run
takes ten, which is how the pretraining settings were compared.

    python benchmarks/region_context_probe.py                 # the preset's settings
    python benchmarks/region_context_probe.py --set batch_size=64 --set lr=0.002

Needs the IMDB tarball (``--data-dir`` or ``$CONVSEQ_DATA``).
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
import torch.nn.functional as F

from convseq.data.imdb import load_imdb, split_imdb
from convseq.data.tokenize import encode, fit_tokenizer
from convseq.models.region_context import RegionContext
from convseq.presets import PRESETS
from convseq.training.pretrain_context import PretrainConfig, pretrain_region_context

PRESET = "imdb-region-cnn"
PROBE_TRAIN = 5_000


def pooled(context: RegionContext, ids: torch.Tensor) -> torch.Tensor:
    """Mean and max of the region vectors over each review's real words."""
    out = []
    with torch.no_grad():
        for start in range(0, len(ids), 250):
            x = ids[start : start + 250]
            real = (x != 0).unsqueeze(-1)
            vectors = context(x)
            mean = (vectors * real).sum(1) / real.sum(1).clamp(min=1)
            largest = vectors.masked_fill(~real, float("-inf")).amax(1)
            out.append(torch.cat([mean, largest], dim=1))
    return torch.cat(out)


def probe_accuracy(train_x, train_y, val_x, val_y, steps: int = 300) -> float:
    """Logistic regression on standardized features (Adam, small L2)."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, val_x = (train_x - mu) / sd, (val_x - mu) / sd
    w = torch.zeros(train_x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=0.01)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(train_x @ w + b, train_y) + 1e-3 * (w * w).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((((val_x @ w + b) > 0).float() == val_y).float().mean())


def parse_setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(PretrainConfig)}
    if name not in fields:
        raise SystemExit(f"unknown setting {name!r}; choose from {', '.join(fields)}")
    return name, (float if fields[name] in (float, "float") else int)(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="PretrainConfig field=value")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run = PRESETS[PRESET].make_run({"seed": args.seed})
    settings, shaping, source = run.model_settings, run.shaping, run.source
    preset = {  # the region vectors the preset pretrains by default (its first context size)
        "size": settings["context_size"][0],
        "dim": settings["context_dim"],
        "epochs": settings["pretrain_epochs"],
    }
    chosen = preset | dict(parse_setting(s) for s in args.set)
    config = PretrainConfig(seed=args.seed, **chosen)

    data = load_imdb(args.data_dir, with_unsup=True)
    train, val, _ = split_imdb(data, source.validation_split, source.limit, args.seed)
    tokenizer = fit_tokenizer(train.texts, shaping.vocab_size, shaping.keep_marks)
    vocab = tokenizer.get_vocab_size()  # the model's (and the pretrained table's) rows

    def ids(texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(
            encode(tokenizer, texts, shaping.max_len, shaping.truncating, shaping.padding)
        )

    table, bias, stats = pretrain_region_context(
        ids(data.unsup + train.texts), vocab, config, shaping.padding
    )
    context = RegionContext(vocab, config.size, config.dim)
    context.load(table, bias)

    train_x = pooled(context, ids(train.texts[:PROBE_TRAIN]))
    val_x = pooled(context, ids(val.texts))
    train_y = torch.tensor(train.labels[:PROBE_TRAIN], dtype=torch.float32)
    val_y = torch.tensor(val.labels, dtype=torch.float32)
    accuracy = probe_accuracy(train_x, train_y, val_x, val_y)
    print(
        f"probe: {dataclasses.asdict(config)}\n"
        f"probe: validation accuracy {accuracy:.4f}, pretraining {stats['pretrain_seconds']:.0f} s, "
        f"final loss {stats['pretrain_loss_last']:.4f}"
    )


if __name__ == "__main__":
    main()
