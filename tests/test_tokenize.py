import numpy as np
import pytest

from convseq.data.tokenize import encode, fit_tokenizer, load_tokenizer, save_tokenizer
from convseq.errors import UserError

TEXTS = ["the cat sat on the mat", "the dog<br />sat", "The CAT, the dog!", "a bird sat"]


def test_vocabulary_keeps_most_frequent_words_plus_specials():
    tok = fit_tokenizer(TEXTS, vocab_size=5)
    vocab = tok.get_vocab()
    assert len(vocab) == 5
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1
    assert {"the", "sat"} <= set(vocab)  # the two most frequent words
    assert "bird" not in vocab and "mat" not in vocab  # rare words are left out


def test_lowercase_html_and_punctuation_are_normalised():
    tok = fit_tokenizer(TEXTS, vocab_size=50)
    ids = encode(tok, ["THE Cat<br />DOG!!"], max_len=3, padding="post")
    vocab = tok.get_vocab()
    assert ids.tolist() == [[vocab["the"], vocab["cat"], vocab["dog"]]]


def test_unknown_words_map_to_oov_id():
    tok = fit_tokenizer(TEXTS, vocab_size=50)
    ids = encode(tok, ["zebra cat"], max_len=2)
    assert ids[0, 0] == 1 and ids[0, 1] == tok.get_vocab()["cat"]


def test_pre_truncation_keeps_last_tokens_and_pads_in_front():
    tok = fit_tokenizer(["a b c d e f"], vocab_size=20)
    v = tok.get_vocab()
    long = encode(tok, ["a b c d e f"], max_len=3)
    assert long.tolist() == [[v["d"], v["e"], v["f"]]]
    short = encode(tok, ["a b"], max_len=4)
    assert short.tolist() == [[0, 0, v["a"], v["b"]]]


def test_post_options_keep_first_tokens_and_pad_at_end():
    tok = fit_tokenizer(["a b c d e f"], vocab_size=20)
    v = tok.get_vocab()
    assert encode(tok, ["a b c d"], 2, truncating="post").tolist() == [[v["a"], v["b"]]]
    assert encode(tok, ["a"], 3, padding="post").tolist() == [[v["a"], 0, 0]]


def test_shape_and_dtype_and_roundtrip(tmp_path):
    tok = fit_tokenizer(TEXTS, vocab_size=10)
    ids = encode(tok, TEXTS, max_len=7)
    assert ids.shape == (4, 7) and ids.dtype == np.int64
    save_tokenizer(tok, tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert np.array_equal(encode(again, TEXTS, max_len=7), ids)


def test_bad_max_len_is_refused():
    tok = fit_tokenizer(TEXTS, vocab_size=10)
    with pytest.raises(UserError, match="max length"):
        encode(tok, TEXTS, max_len=0)


def test_keep_marks_makes_exclamation_and_question_marks_words(tmp_path):
    text = "Great!! Really? <br />yes... ok!"
    dropped = fit_tokenizer([text], 20)
    assert dropped.encode(text).tokens == ["great", "really", "yes", "ok"]
    kept = fit_tokenizer([text], 20, keep_marks=True)
    expected = ["great", "!", "!", "really", "?", "yes", "ok", "!"]
    assert kept.encode(text).tokens == expected
    save_tokenizer(kept, tmp_path / "tokenizer.json")  # predict reads the same rule back
    assert load_tokenizer(tmp_path / "tokenizer.json").encode(text).tokens == expected
