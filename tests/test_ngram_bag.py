"""The n-gram bag: binary n-gram features from token ids, Naive Bayes ratios, its own fit, export."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from convseq.cli import main
from convseq.models import TextShape, build_model
from convseq.models.ensemble import members_of
from convseq.models.ngram_bag import NgramBag
from convseq.training.fit_ngram_bag import BagFitConfig, fit_ngram_bag
from tests.onnx_helpers import exported_max_diff
from tests.test_imdb_strong import run_preset

VOCAB = 12


def ngrams(row, order):
    """The set of n-grams (as tuples) in one review, padding (id 0) excluded."""
    words = [int(t) for t in row]
    found = set()
    for n in range(1, order + 1):
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if 0 not in gram:
                found.add(gram)
    return found


def bucket(gram, bag):
    key = 0
    for t in gram:
        key = key * VOCAB + t
    key += sum(VOCAB**n for n in range(1, len(gram)))  # each order has its own key range
    return key % bag.buckets


@pytest.mark.parametrize("order", [1, 2, 3])
def test_the_score_is_the_sum_over_distinct_ngrams_of_weight_times_ratio(order):
    torch.manual_seed(0)
    bag = NgramBag(VOCAB, order=order, buckets=1009)
    torch.nn.init.normal_(bag.weight.weight)
    bag.ratio.normal_()
    bag.bias.data.fill_(0.25)
    ids = torch.tensor([[0, 0, 3, 4, 3, 4, 3, 5], [7, 7, 7, 7, 2, 0, 9, 9]])
    with torch.no_grad():
        scores = bag(ids)
        table = bag.weight.weight.detach()[:, 0]
    for row, score in zip(ids, scores, strict=True):
        rows = {bucket(g, bag) for g in ngrams(row, order)}
        expected = sum(float(table[r] * bag.ratio[r]) for r in rows) + 0.25
        assert score.item() == pytest.approx(expected, abs=1e-5)


def test_repeats_count_once_and_the_amount_of_padding_does_not_matter():
    torch.manual_seed(0)
    bag = NgramBag(VOCAB, order=2, buckets=1009)
    torch.nn.init.normal_(bag.weight.weight)
    bag.ratio.normal_()
    once = bag(torch.tensor([[0, 3, 4]]))
    assert torch.allclose(bag(torch.tensor([[3, 4, 3, 4, 3, 4]])), bag(torch.tensor([[4, 3, 4]])))
    assert torch.allclose(bag(torch.tensor([[0, 0, 0, 0, 0, 3, 4]])), once)
    # a pair broken by padding is not a pair
    assert not torch.allclose(bag(torch.tensor([[3, 0, 4]])), once)


def test_ratios_are_naive_bayes_log_count_ratios_of_binary_counts():
    bag = NgramBag(VOCAB, order=1, buckets=101)
    ids = torch.tensor([[1, 2, 2], [2, 3, 0], [3, 3, 4]])
    labels = [1, 1, 0]
    seen = bag.fit_ratios(ids, labels, alpha=1.0)
    assert seen == 4  # words 1, 2, 3, 4
    reviews = [set(row) - {0} for row in ids.tolist()]
    positive = Counter(w for words, y in zip(reviews, labels, strict=True) if y for w in words)
    negative = Counter(w for words, y in zip(reviews, labels, strict=True) if not y for w in words)
    p_total = sum(positive[w] + 1 for w in range(101))
    q_total = sum(negative[w] + 1 for w in range(101))
    for word in (1, 2, 3, 4):
        expected = math.log(((positive[word] + 1) / p_total) / ((negative[word] + 1) / q_total))
        assert bag.ratio[word, 0].item() == pytest.approx(expected, rel=1e-5)
    assert bag.ratio[5, 0].item() == 0.0  # never seen: no evidence either way


def slow_ratios(texts: list[list[int]], labels: list[int], classes: int, order: int, alpha=1.0):
    """One-vs-rest Naive Bayes ratios by counting n-grams text by text, as a dict per class."""
    grams = []
    for text in texts:
        words = [w for w in text if w]  # padding (0) breaks nothing here: the texts have none
        found = {
            tuple(words[i : i + n]) for n in range(1, order + 1) for i in range(len(words) - n + 1)
        }
        grams.append(found)
    vocabulary = set().union(*grams)
    ratios = []
    for k in range(classes):
        inside = Counter(g for found, y in zip(grams, labels, strict=True) if y == k for g in found)
        outside = Counter(
            g for found, y in zip(grams, labels, strict=True) if y != k for g in found
        )
        ratios.append((inside, outside, vocabulary))
    return ratios


def test_multiclass_ratios_match_a_slow_one_vs_rest_count():
    """Three classes, words and pairs: each output's ratios against a text-by-text count."""
    vocab, buckets = 12, 100_003  # a prime far above the n-grams present: no two share a bucket
    torch.manual_seed(3)
    texts = [torch.randint(1, vocab, (7,)).tolist() for _ in range(30)]
    labels = [i % 3 for i in range(30)]
    bag = NgramBag(vocab, order=2, buckets=buckets, num_outputs=3)
    bag.fit_ratios(torch.tensor(texts), labels, alpha=1.0)
    for k, (inside, outside, vocabulary) in enumerate(slow_ratios(texts, labels, 3, 2)):
        unseen = buckets - len(vocabulary)  # every bucket counts alpha in the totals
        p_total = sum(inside.values()) + len(vocabulary) + unseen
        q_total = sum(outside.values()) + len(vocabulary) + unseen
        for gram in vocabulary:
            key = gram[0] if len(gram) == 1 else gram[0] * vocab + gram[1] + vocab
            expected = math.log(((inside[gram] + 1) / p_total) / ((outside[gram] + 1) / q_total))
            assert bag.ratio[key % buckets, k].item() == pytest.approx(expected, rel=1e-4)


def test_its_own_fit_learns_keeps_the_best_pass_and_freezes_it():
    torch.manual_seed(0)
    good, bad = [3, 4, 5], [6, 7, 8]
    rows, labels = [], []
    for i in range(64):
        positive = i % 2 == 0
        words = torch.tensor(good if positive else bad)[torch.randint(0, 3, (6,))]
        rows.append(torch.cat([words, torch.randint(1, 3, (4,))]))
        labels.append(float(positive))
    ids, targets = torch.stack(rows), torch.tensor(labels)
    bag = NgramBag(VOCAB, order=2, buckets=211)
    stats = fit_ngram_bag(
        bag, (ids[:48], targets[:48]), (ids[48:], targets[48:]), BagFitConfig(epochs=3, lr=0.05)
    )
    assert stats["ngram_val_acc"] == 1.0 and 1 <= stats["ngram_best_epoch"] <= 3
    assert not any(p.requires_grad for p in bag.parameters())
    with torch.no_grad():
        assert ((bag(ids[48:]) > 0).float() == targets[48:]).all()


def test_refused_settings_say_what_to_change():
    from convseq.errors import UserError

    with pytest.raises(UserError, match="order must be 1, 2 or 3"):
        NgramBag(VOCAB, order=4)
    three = build_model(
        "text-region-cnn",
        TextShape(vocab_size=50, num_outputs=3),
        {"ngram_bag": True, "ngram_buckets": 11, "channels": 4},
    )
    assert three.eval()(torch.randint(1, 50, (2, 9))).shape == (2, 3)  # classes as outputs
    with pytest.raises(UserError, match="--ngram-buckets must be 2 to"):
        build_model(
            "text-region-cnn", TextShape(vocab_size=50), {"ngram_bag": True, "ngram_buckets": 1}
        )


def test_region_cnn_preset_with_a_bag_trains_the_network_beside_the_frozen_bag(
    imdb_dir, tmp_path, capsys
):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "2", "--channels", "8", "--pretrain-epochs", "0", "--ngram-bag"]
    extra += ["--ngram-buckets", "4099", "--ngram-lr", "0.05"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "n-gram bag:" in printed and "members.1 (NgramBag)" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    settings = config["model"]["settings"]
    assert settings["ngram_bag"] is True and settings["ngram_buckets"] == 4099
    classifier = convseq.load(out)
    network, bag = members_of(classifier.model)
    assert isinstance(bag, NgramBag) and bag.buckets == 4099 and bag.ratio.abs().sum() > 0
    # the saved bag is the one its own fit chose: it scores the same on validation
    from convseq.data.imdb import load_imdb, split_imdb

    source = config["source"]
    split = (source["validation_split"], source["limit"], config["train"]["seed"])
    _, val, _ = split_imdb(load_imdb(imdb_dir), *split)
    with torch.no_grad():
        alone = bag(torch.from_numpy(classifier.encode(val.texts)))
    accuracy = ((alone > 0).long() == torch.tensor(val.labels)).float().mean().item()
    assert accuracy == pytest.approx(metrics["ngram_val_acc"])
    assert len(classifier.predict(["a great film", "awful and dull"])) == 2


def test_a_bag_ensemble_exports_to_onnx(imdb_dir, tmp_path):
    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--pretrain-epochs", "0", "--ngram-bag"]
    extra += ["--ngram-buckets", "4099"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    assert exported_max_diff(out) <= 1e-4


def test_the_members_benchmark_scores_each_member_and_their_mean_as_the_run_did(
    imdb_dir, tmp_path, capsys
):
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "imdb_members.py"
    spec = importlib.util.spec_from_file_location("imdb_members", script)
    members_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(members_bench)
    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--pretrain-epochs", "0"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra, "--ngram-buckets", "4099") == 0
    capsys.readouterr()
    assert members_bench.main([str(out), "--test", "--data-dir", str(imdb_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    metrics = json.loads((out / "metrics.json").read_text())
    mean = {line.split(":")[0]: float(line.rsplit(" ", 1)[1]) for line in lines if "mean" in line}
    assert mean["val"] == pytest.approx(metrics["best_val_acc"])
    assert mean["test"] == pytest.approx(metrics["test_acc"])
    bag_alone = [line for line in lines if line.startswith("val: 1:NgramBag alone")]
    assert float(bag_alone[0].rsplit(" ", 1)[1]) == pytest.approx(metrics["ngram_val_acc"])
    assert any("agree on" in line for line in lines)


def test_its_own_fit_restores_the_best_pass_when_a_later_one_is_worse(monkeypatch):
    from convseq.training import trainer as trainer_module

    torch.manual_seed(0)
    ids = torch.randint(1, VOCAB, (32, 8))
    targets = (ids[:, 0] > VOCAB // 2).float()
    bag = NgramBag(VOCAB, order=2, buckets=211)
    snapshots, scores = [], iter([0.9, 0.6, 0.7])

    def scripted(self, data):  # pass 1 scores best, then worse
        snapshots.append(bag.weight.weight.detach().clone())
        return {"loss": 0.5, "acc": next(scores)}

    monkeypatch.setattr(trainer_module.Trainer, "evaluate", scripted)
    stats = fit_ngram_bag(bag, (ids, targets), (ids, targets), BagFitConfig(epochs=3, lr=0.05))
    assert stats["ngram_best_epoch"] == 1 and stats["ngram_val_acc"] == 0.9
    assert not torch.equal(snapshots[0], snapshots[2])  # the passes did move the weights
    assert torch.equal(bag.weight.weight, snapshots[0])  # and the first pass's came back


def test_a_bag_chosen_as_the_model_gets_its_ratios_and_learns(tmp_path):
    import convseq
    from tests.text_helpers import SENTIMENT, make_rows, train, write_csv

    data = write_csv(tmp_path / "reviews.csv", make_rows(SENTIMENT, 160))
    out = tmp_path / "run"
    assert train(data, out, "--model", "text-ngram-bag", "--lr", "0.05") == 0
    bag = convseq.load(out).model
    assert isinstance(bag, NgramBag) and bag.fitted
    assert json.loads((out / "metrics.json").read_text())["best_val_acc"] >= 0.9


def test_a_bag_trains_on_three_classes(tmp_path):
    import convseq
    from tests.text_helpers import QUICK, TOPICS, make_rows, write_csv

    data = write_csv(tmp_path / "topics.csv", make_rows(TOPICS, 90))
    out = tmp_path / "run"
    argv = [
        "train",
        "text",
        str(data),
        "--model",
        "text-cnn",
        *QUICK,
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--out",
        str(out),
    ]
    assert main([*argv, "--model", "text-ngram-bag"]) == 0
    bag = convseq.load(out).model
    assert isinstance(bag, NgramBag) and bag.num_outputs == 3 and bag.fitted
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["food", "sport", "tech"] and metrics["best_val_acc"] >= 0.9
    predictions = convseq.load(out).predict(["pasta bread cheese soup", "goal match team score"])
    assert [p.label for p in predictions] == ["food", "sport"]
