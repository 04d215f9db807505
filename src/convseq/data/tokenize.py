"""Word-level tokenizer built on Hugging Face ``tokenizers``.

Lower-cases, turns ``<br />`` tags and punctuation into spaces, and keeps the
``vocab_size - 2`` most frequent training words. Id 0 is padding and id 1 is
out-of-vocabulary, so an ``Embedding(vocab_size, d)`` covers every id.
Sequences are cut and padded like Keras's ``pad_sequences``: by default the
last ``max_len`` tokens are kept and padding goes in front ("pre").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from convseq.atomic import write_with
from convseq.errors import UserError

PAD, UNK = "[PAD]", "[UNK]"
SIDES = ("pre", "post")
ENCODE_CHUNK = 2048


def _normalizer(keep_marks: bool = False):
    steps = [
        normalizers.NFKC(),
        normalizers.Lowercase(),
        normalizers.Replace(Regex(r"<br\s*/?>"), " "),
    ]
    if keep_marks:  # "!" and "?" carry sentiment: each becomes a word of its own
        steps += [normalizers.Replace("!", " ! "), normalizers.Replace("?", " ? ")]
        steps.append(normalizers.Replace(Regex(r"[^\w'!?]+"), " "))
    else:
        steps.append(normalizers.Replace(Regex(r"[^\w']+"), " "))
    return normalizers.Sequence(steps)


def fit_tokenizer(texts: list[str], vocab_size: int, keep_marks: bool = False) -> Tokenizer:
    """Learn the vocabulary from ``texts`` (the training split only).

    ``keep_marks`` keeps "!" and "?" as tokens instead of dropping them with
    the other punctuation.
    """
    if vocab_size < 3:
        raise UserError(
            f"vocabulary size must be at least 3, got {vocab_size}; pass --vocab-size 10000"
        )
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = _normalizer(keep_marks)
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def encode(
    tokenizer: Tokenizer,
    texts: list[str],
    max_len: int,
    truncating: str = "pre",
    padding: str = "pre",
) -> np.ndarray:
    """Token ids as an ``int64`` array of shape (len(texts), max_len)."""
    if max_len < 1:
        raise UserError(
            f"max length must be a positive number of tokens, got {max_len}; pass e.g. --max-len 500"
        )
    for name, side in (("truncating", truncating), ("padding", padding)):
        if side not in SIDES:
            raise UserError(f"{name} must be 'pre' or 'post', got {side!r}")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_len, direction="left" if truncating == "pre" else "right")
    tokenizer.enable_padding(
        direction="left" if padding == "pre" else "right",
        pad_id=tokenizer.token_to_id(PAD),
        pad_token=PAD,
        length=max_len,
    )
    batch_encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    ids = np.empty((len(texts), max_len), dtype=np.int64)
    # in chunks: an Encoding object per text holds far more than its ids, and
    # 75,000 of them at once would need gigabytes
    for start in range(0, len(texts), ENCODE_CHUNK):
        chunk = batch_encode(texts[start : start + ENCODE_CHUNK])
        ids[start : start + len(chunk)] = [e.ids for e in chunk]
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return ids


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> None:
    write_with(path, lambda tmp: tokenizer.save(tmp))


def load_tokenizer(path: str | Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises its own Exception subclass
        raise UserError(f"{path} is not a valid tokenizer file ({exc}); retrain the run") from None
