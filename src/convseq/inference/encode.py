"""Token ids for prediction: the same ids as ``convseq.data.tokenize.encode``, several times faster.

Encoding with ``tokenizers`` costs about 300 us per IMDB review, mostly in
tracking character offsets that prediction never uses. For the standard
convseq tokenizer (NFKC, lower-case, ``<br />`` and punctuation to spaces,
whitespace split, word-level vocabulary) a pure-ASCII text is normalised
exactly by ``str.lower``, one regular expression and a byte translation
table; any other text goes
through the tokenizer's own normaliser, and texts holding a special token such
as ``[PAD]`` through the full tokenizer. Tokenizers of any other configuration
always use the full tokenizer. ``tests/test_predict.py`` checks the ids are equal.
"""

from __future__ import annotations

import json
import re

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers

from convseq.data.tokenize import PAD, SIDES, UNK, encode
from convseq.errors import UserError

_BR = re.compile(rb"<br[\t\n\v\f\r ]*/?>")  # \s of the tokenizer's regex engine, on ASCII
_KEPT = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'"  # \w and ' on ASCII
_TO_SPACE = bytes(c if c in _KEPT else ord(" ") for c in range(256))  # [^\w']+ -> " "


def _standard_parts() -> dict:
    """The tokenizer settings the ASCII shortcut reproduces, as tokenizers serialises them."""
    reference = Tokenizer(models.WordLevel({PAD: 0, UNK: 1}, unk_token=UNK))
    reference.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(r"<br\s*/?>"), " "),
            normalizers.Replace(Regex(r"[^\w']+"), " "),
        ]
    )
    spec = json.loads(reference.to_str())
    return {"normalizer": spec["normalizer"], "pre_tokenizer": {"type": "WhitespaceSplit"}}


def is_standard(tokenizer: Tokenizer) -> bool:
    spec = json.loads(tokenizer.to_str())
    standard = _standard_parts()
    return (
        spec.get("normalizer") == standard["normalizer"]
        and spec.get("pre_tokenizer") == standard["pre_tokenizer"]
        and spec.get("post_processor") is None
        and spec.get("model", {}).get("type") == "WordLevel"
        and spec.get("model", {}).get("unk_token") == UNK
        and tokenizer.token_to_id(PAD) is not None
    )


class TextEncoder:
    """``encoder(texts)`` -> int64 array (len(texts), max_len), cut and padded as in training."""

    def __init__(self, tokenizer: Tokenizer, max_len: int, truncating: str, padding: str):
        if max_len < 1 or truncating not in SIDES or padding not in SIDES:
            raise UserError(
                f"invalid encoding settings (max_len {max_len}, truncating {truncating!r}, "
                f"padding {padding!r}); the run folder's config is damaged, retrain it"
            )
        self.tokenizer, self.max_len = tokenizer, max_len
        self.truncating, self.padding = truncating, padding
        self.fast = is_standard(tokenizer)
        self.vocab = tokenizer.get_vocab()
        self.ascii_vocab = {w.encode("ascii"): i for w, i in self.vocab.items() if w.isascii()}
        self.pad_id = tokenizer.token_to_id(PAD)
        self.unk_id = tokenizer.token_to_id(UNK)
        self.specials = [t.content for t in tokenizer.get_added_tokens_decoder().values()]

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not self.fast:
            return encode(self.tokenizer, texts, self.max_len, self.truncating, self.padding)
        get, get_ascii = self.vocab.get, self.ascii_vocab.get
        unk, max_len = self.unk_id, self.max_len
        normalize = self.tokenizer.normalizer.normalize_str
        keep_last = self.truncating == "pre"
        flat: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        full: list[int] = []  # texts holding a special token: the tokenizer itself encodes them
        for i, text in enumerate(texts):
            if any(special in text for special in self.specials):
                full.append(i)
                continue
            if text.isascii():
                data = text.lower().encode("ascii")
                if b"<br" in data:
                    data = _BR.sub(b" ", data)
                words, lookup = data.translate(_TO_SPACE).split(), get_ascii
            else:
                words, lookup = normalize(text).split(), get
            if len(words) > max_len:
                words = words[-max_len:] if keep_last else words[:max_len]
            flat.extend([lookup(w, unk) for w in words])
            lengths[i] = len(words)
        ids = np.full((len(texts), max_len), self.pad_id, dtype=np.int64)
        if flat:
            rows = np.repeat(np.arange(len(texts)), lengths)
            starts = np.cumsum(lengths) - lengths
            cols = np.arange(len(flat)) - np.repeat(starts, lengths)
            if self.padding == "pre":
                cols += np.repeat(max_len - lengths, lengths)
            ids[rows, cols] = np.asarray(flat, dtype=np.int64)
        if full:
            ids[full] = encode(
                self.tokenizer,
                [texts[i] for i in full],
                max_len,
                self.truncating,
                self.padding,
            )
        return ids
