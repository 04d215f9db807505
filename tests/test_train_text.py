"""`convseq train text`: every input format, labels, baselines, reports, and every bad input."""

import json

import pytest

import convseq
from convseq.cli import main
from tests.text_helpers import (
    SENTIMENT,
    TOPICS,
    make_rows,
    train,
    write_csv,
    write_folders,
    write_jsonl,
)

RUN_FILES = {
    "config.json",
    "history.csv",
    "curves.png",
    "model.safetensors",
    "tokenizer.json",
    "metrics.json",
    "confusion.png",
}


def test_multiclass_csv_with_string_labels(tmp_path, capsys):
    data = write_csv(tmp_path / "news.csv", make_rows(TOPICS, 180), header=("headline", "topic"))
    out = tmp_path / "run"
    code = train(data, out, "--text-column", "headline", "--label-column", "topic", "--epochs", "3")
    assert code == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES  # no labels.json: the weights hold them
    classifier = convseq.load(out)
    assert classifier.labels == ["food", "sport", "tech"]
    assert classifier.train_counts == [48, 48, 48]  # 80% of 180, stratified
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["food", "sport", "tech"]
    assert metrics["baseline_val_acc"] == pytest.approx(1 / 3)
    assert metrics["best_val_acc"] > metrics["baseline_val_acc"]
    assert 0 < metrics["val_macro_f1"] <= 1
    assert sum(map(sum, metrics["confusion"]["matrix"])) == 36
    printed = capsys.readouterr().out
    assert "majority-class baseline ('food')" in printed and "macro-F1" in printed
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["source"]["kind"] == "text-files"
    assert config["source"]["text_column"] == "headline"
    assert config["source"]["label_column"] == "topic"
    assert config["source"]["data"] == str(data.resolve())
    assert config["preset"] == "train-text" and config["dataset"] == "news"


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "folders"])
def test_other_formats_binary_with_validation_file(fmt, tmp_path):
    rows, val_rows = make_rows(SENTIMENT, 80, seed=1), make_rows(SENTIMENT, 20, seed=2)
    if fmt == "tsv":
        data = write_csv(tmp_path / "train.tsv", rows, delimiter="\t")
    elif fmt == "jsonl":
        data = write_jsonl(tmp_path / "train.jsonl", rows)
    else:
        data = write_folders(tmp_path / "train", rows)
    val = write_csv(tmp_path / "val.csv", val_rows)
    out = tmp_path / "run"
    assert train(data, out, "--val", str(val), "--test", str(val), "--epochs", "1") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["neg", "pos"]
    assert convseq.load(out).train_counts == [40, 40]  # neg, pos
    assert {"test_acc", "test_macro_f1", "baseline_test_acc"} <= set(metrics)
    assert metrics["confusion"]["split"] == "test"


def test_classes_option_keeps_and_orders_folders(tmp_path, capsys):
    data = write_folders(tmp_path / "aclImdb_like", make_rows(SENTIMENT, 60))
    (tmp_path / "aclImdb_like" / "unsup").mkdir()
    (tmp_path / "aclImdb_like" / "unsup" / "0.txt").write_text("no label here")
    out = tmp_path / "run"
    assert train(data, out, "--classes", "pos,neg", "--epochs", "1") == 0
    assert convseq.load(out).labels == ["pos", "neg"]
    assert json.loads((out / "metrics.json").read_text())["classes"] == ["pos", "neg"]


def test_empty_texts_are_skipped_with_a_count(tmp_path, capsys):
    rows = make_rows(SENTIMENT, 60) + [("", "pos"), ("   ", "neg"), ("text without label", "")]
    data = write_csv(tmp_path / "d.csv", rows)
    assert train(data, tmp_path / "run", "--epochs", "1") == 0
    printed = capsys.readouterr().out
    assert "skipped 2 rows with an empty text" in printed
    assert "skipped 1 row without a label" in printed


def bad(argv, capsys, tmp_path, message):
    out = tmp_path / "run"
    try:
        code = main(["train", "text", "--model", "text-cnn", *argv, "--out", str(out)])
    except SystemExit as exit:  # argparse's own errors (a mistyped option) exit in place
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # nothing written
    return err


def test_missing_file(tmp_path, capsys):
    (tmp_path / "reviews.csv").write_text("text,label\na,b\n")
    bad([str(tmp_path / "reviewz.csv")], capsys, tmp_path, "does not exist")


def test_undecodable_encoding(tmp_path, capsys):
    rows = make_rows(SENTIMENT, 20) + [("caf\u00e9 cr\u00e8me", "pos")]
    data = write_csv(tmp_path / "latin.csv", rows, encoding="latin-1")
    err = bad([str(data)], capsys, tmp_path, "is not valid utf-8")
    assert "line 22" in err and "--encoding latin-1" in err
    # the fix the message names works
    assert train(data, tmp_path / "ok", "--encoding", "latin-1", "--epochs", "1") == 0


@pytest.mark.parametrize("content", ["", "\n\n  \n", "text,label\n"])
def test_empty_file(content, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text(content)
    message = "has a header but no rows" if content.startswith("text") else "is empty"
    bad([str(tmp_path / "empty.csv")], capsys, tmp_path, message)


def test_misspelt_column_suggests_closest(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 20), header=("review", "sentiment"))
    err = bad(
        [str(data), "--text-column", "reviw", "--label-column", "sentiment"],
        capsys,
        tmp_path,
        "has no column 'reviw' (did you mean 'review'?)",
    )
    assert "--text-column" in err
    jsonl = write_jsonl(tmp_path / "d.jsonl", make_rows(SENTIMENT, 20), keys=("text", "labels"))
    bad([str(jsonl)], capsys, tmp_path, "has no column 'label' (did you mean 'labels'?)")


def test_only_one_class(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", [(f"text {i}", "pos") for i in range(30)])
    bad([str(data)], capsys, tmp_path, "has only one class ('pos')")


def test_nothing_left_after_skipping_empty_texts(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", [("", "pos"), (" ", "neg"), ("\t", "pos")])
    bad([str(data)], capsys, tmp_path, "has no row with both a text and a label (3 empty texts")


def test_text_column_given_as_label_is_caught(tmp_path, capsys):
    rows = [(f"text number {i}", f"unique label {i}") for i in range(60)]
    data = write_csv(tmp_path / "d.csv", rows)
    bad([str(data)], capsys, tmp_path, "looks like a text column")


def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 20))
    bad([str(data), "--model", "text-cnnn"], capsys, tmp_path, "did you mean 'text-cnn'")
    # model settings are flags of their own, typed by the model's defaults
    bad([str(data), "--embed-dim", "wide"], capsys, tmp_path, "--embed-dim: invalid int value")
    bad(
        [str(data), "--model", "text-tcn", "--dilations", "1,x"],
        capsys,
        tmp_path,
        "--dilations must be int values separated by commas",
    )
    bad([str(data), "--dilations", "1,2"], capsys, tmp_path, "unrecognized arguments: --dilations")
    bad([str(data), "--val", str(tmp_path / "nope.csv")], capsys, tmp_path, "does not exist")
    bad([str(data), "--max-len", "10"], capsys, tmp_path, "needs at least 41 tokens")


def test_unknown_label_in_validation_file(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 40))
    val = write_csv(tmp_path / "v.csv", [("great fun", "pos"), ("so so", "meh")])
    bad(
        [str(data), "--val", str(val)],
        capsys,
        tmp_path,
        "labels the model was not trained on: 'meh'",
    )


def test_existing_folder_is_never_overwritten(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 40))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["train", "text", str(data), "--model", "text-cnn", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


def test_reader_handles_bom_crlf_quoted_newlines_and_numeric_labels(tmp_path):
    from convseq.data.text_files import check_classes, read_labelled_texts, read_texts

    raw = '\ufefftext,label\r\n"two\nlines, quoted",10\r\nsep\u2028inside,9\r\nplain,2\r\n'
    path = tmp_path / "d.csv"
    path.write_bytes(raw.encode("utf-8"))
    data = read_labelled_texts(path)
    assert data.texts == ["two\nlines, quoted", "sep\u2028inside", "plain"]
    assert check_classes(data, "label") == ["2", "9", "10"]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": true}\n')
    assert read_labelled_texts(jsonl).labels == ["1", "true"]
    lines = tmp_path / "in.txt"
    lines.write_bytes(b"first\r\nsecond \xe2\x80\xa8 same line\n\nlast")
    assert read_texts(lines) == ["first", "second \u2028 same line", "", "last"]


def test_imdb_ratings_is_an_eight_class_task_of_its_own(tmp_path, imdb_dir):
    import json

    from convseq.cli import main

    out = tmp_path / "run"
    argv = ["run", "imdb-ratings", "--data-dir", str(imdb_dir), "--model", "text-ngram-bag",
            "--epochs", "1", "--max-len", "20", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "imdb-ratings" and len(metrics["classes"]) == 8
    assert metrics["classes"][-1] == "10 stars"


def test_train_text_takes_its_length_from_the_data_and_records_it(tmp_path, capsys):
    import json

    import numpy as np

    from convseq.cli import main
    from tests.text_helpers import SENTIMENT, make_rows, write_csv

    rows = make_rows(SENTIMENT, 60)
    rows += [(" ".join(["long"] * 300) + " great", "pos")]  # one long text: cut, not the norm
    data = write_csv(tmp_path / "t.csv", rows)
    out = tmp_path / "run"
    assert (
        main(
            ["train", "text", str(data), "--model", "text-cnn", "--epochs", "1", "--out", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    chosen = json.loads((out / "config.json").read_text())["config"]["shaping"]["max_len"]
    words = sorted(len(text.split()) for text, _ in rows)
    assert 41 <= chosen < 300  # the convnet's minimum at least; the long text does not set it
    assert chosen <= max(41, int(np.ceil(np.percentile(words, 95))) + 2)
    assert f"length {chosen} (the 95th percentile" in printed
    assert json.loads((out / "metrics.json").read_text())["max_len"] == chosen
    lines = tmp_path / "new.txt"
    lines.write_text("great fun\n" + " ".join(["long"] * 500) + "\n")
    assert main(["predict", str(out), str(lines)]) == 0  # prediction encodes to the same length
    fixed = tmp_path / "fixed"
    argv = [
        "train",
        "text",
        str(data),
        "--model",
        "text-cnn",
        "--epochs",
        "1",
        "--max-len",
        "64",
        "--out",
        str(fixed),
    ]
    assert main(argv) == 0
    assert json.loads((fixed / "config.json").read_text())["config"]["shaping"]["max_len"] == 64


def test_unlabelled_texts_of_ones_own_pretrain_the_region_vectors(tmp_path, capsys):
    import json

    from convseq.cli import main
    from tests.forecast_helpers import refused
    from tests.text_helpers import SENTIMENT, make_rows, write_csv

    data = write_csv(tmp_path / "t.csv", make_rows(SENTIMENT, 40))
    extra = tmp_path / "more.txt"
    extra.write_text("a film i saw twice\n\nthe plot was thin but the cast shone\nfine\n")
    out = tmp_path / "run"
    argv = ["train", "text", str(data), "--model", "text-region-cnn", "--pretrain-epochs", "1",
            "--context-size", "3", "--region-sizes", "2", "--channels", "8", "--context-dim", "8",
            "--epochs", "1", "--unlabelled", str(extra), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "more.txt: 3 unlabelled texts" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    train_texts = 32  # 80% of the 40 rows
    assert metrics["pretrain_texts"] == train_texts + 3
    no_pretraining = ["train", "text", str(data), "--model", "text-cnn", "--unlabelled", str(extra),
                      "--out", str(tmp_path / "r")]  # fmt: skip
    refused(no_pretraining, capsys, "--unlabelled is read only to pretrain region vectors")
    assert not (tmp_path / "r").exists()
