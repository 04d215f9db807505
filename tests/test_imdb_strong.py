"""The stronger IMDB presets run end to end on tiny data and record every option."""

import csv
import json

import pytest

from convseq.cli import main
from convseq.errors import UserError
from convseq.models.ensemble import members_of

TINY = ["--max-len", "30", "--vocab-size", "60", "--batch-size", "4"]


def run_preset(name, imdb_dir, out, *extra):
    argv = ["run", name, "--data-dir", str(imdb_dir), "--out", str(out), *TINY, *extra]
    return main(argv)


def test_region_cnn_preset_records_training_options(imdb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--epochs", "3", "--channels", "8", "--region-sizes", "2,3", "--schedule", "cosine"]
    extra += ["--grad-clip", "0.5", "--patience", "1", "--lr", "0.01", "--pool", "maxmean"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "Region sizes: 2, 3 words; pooling: maxmean" in printed
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["schedule"] == "cosine" and config["grad_clip"] == 0.5
    assert config["patience"] == 1 and config["region_sizes"] == "2,3"
    assert config["optimizer"] == "adam" and config["length_buckets"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "imdb" and metrics["model"] == "text-region-cnn"
    assert 0 <= metrics["test_acc"] <= 1 and metrics["total_seconds"] > 0
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # cosine over 3 epochs ends at zero; early stopping may end the run sooner
    lrs = [float(r["lr"]) for r in rows]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert metrics["best_epoch"] <= len(rows) <= 3


def test_tcn_preset_shows_receptive_field(imdb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--epochs", "1", "--embed-dim", "8", "--channels", "8", "--dilations", "1,2"]
    assert run_preset("imdb-tcn", imdb_dir, out, *extra, "--no-length-buckets") == 0
    assert "Receptive field: 13 steps: 6 steps each side (non-causal)" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["dilations"] == "1,2" and config["length_buckets"] is False
    assert json.loads((out / "metrics.json").read_text())["model"] == "text-tcn"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["imdb-region-cnn", "--schedule", "cosin"], "did you mean 'cosine'"),
        (["imdb-region-cnn", "--optimizer", "rmsprop"], "need --optimizer adam or adamw"),
        (["imdb-region-cnn", "--region-sizes", "3,x"], "--region-sizes must be positive"),
        (["imdb-region-cnn", "--pool", "avg"], "--pool must be max or maxmean"),
        (["imdb-region-cnn", "--members", "0"], "--members must be a positive number"),
        (["imdb-region-cnn", "--context-size", "5,0"], "--context-size must be positive"),
        (["imdb-region-cnn", "--context-size", "5,5"], "lists a size twice"),
        (["imdb-tcn", "--kernel-size", "4"], "odd kernel size"),
        (["imdb-tcn", "--dilations", "0"], "--dilations must be positive"),
        (["imdb-tcn", "--norm", "batch"], "unknown TCN norm"),
        (["imdb-cnn", "--optimizer", "adamm"], "did you mean 'adam'"),
    ],
)
def test_bad_options_fail_before_anything_is_written(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_region_cnn_with_pretrained_context_trains_saves_and_predicts(imdb_dir, tmp_path, capsys):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--pretrain-epochs", "2", "--context-dim", "6"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra, "--context-size", "3") == 0
    printed = capsys.readouterr().out
    assert "pretraining region vectors: epoch 2/2" in printed
    assert "pretrained context: 3-word regions, table 60 x 6 (frozen)" in printed
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["pretrain_epochs"] == 2 and config["context_dim"] == 6
    metrics = json.loads((out / "metrics.json").read_text())
    # the tiny tarball: 1 unlabelled review + the 14 training-part reviews (never validation/test)
    assert metrics["pretrain_texts"] == 15 and metrics["pretrain_seconds"] >= 0
    assert (out / "region_context.safetensors").exists()
    classifier = convseq.load(out)  # the frozen table travels in model.safetensors
    network = members_of(classifier.model)[0]  # the preset averages it with an n-gram bag
    assert network.context.table.abs().sum() > 0
    probabilities = classifier.predict(["a great film", "awful and dull"])
    assert len(probabilities) == 2


def test_pretrained_context_is_reused_when_a_run_resumes(tmp_path, monkeypatch):
    import torch

    import convseq.experiments.imdb_strong as strong
    from convseq.models.region import RegionCNN
    from convseq.training.run_folder import RunFolder

    folder = RunFolder(tmp_path)
    settings = {"context_size": 3, "context_dim": 4, "pretrain_epochs": 1, "seed": 0}
    settings |= {"vocab_size": 20, "padding": "pre"}
    ids = torch.randint(2, 20, (6, 9))
    first = RegionCNN(vocab_size=20, channels=4, context_size=3, context_dim=4)
    stats = strong.install_context(first, lambda texts: ids, ["x"] * 6, settings, folder)
    assert stats["pretrain_texts"] == 6

    def no_training(*args, **kwargs):
        raise AssertionError("pretrained again instead of reusing the saved table")

    monkeypatch.setattr(strong, "pretrain_region_context", no_training)
    second = RegionCNN(vocab_size=20, channels=4, context_size=3, context_dim=4)
    assert strong.install_context(second, lambda texts: ids, ["x"] * 6, settings, folder) == {}
    assert torch.equal(first.context.table, second.context.table)


def test_several_context_sizes_pretrain_one_table_each_and_resume(tmp_path, monkeypatch):
    import torch

    import convseq.experiments.imdb_strong as strong
    from convseq.models.region import RegionCNN
    from convseq.training.run_folder import RunFolder

    folder = RunFolder(tmp_path)
    settings = {"context_size": "2,4", "context_dim": 3, "pretrain_epochs": 1, "seed": 0}
    settings |= {"vocab_size": 20, "padding": "pre"}
    ids = torch.randint(2, 20, (6, 9))
    model = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    assert [c.size for c in model.contexts()] == [2, 4]
    assert model.context_map.in_features == 6  # both sets of vectors, side by side
    strong.install_context(model, lambda texts: ids, ["x"] * 6, settings, folder)
    small, large = model.contexts()
    assert small.table.abs().sum() > 0 and large.table.abs().sum() > 0
    assert not torch.equal(small.table, large.table)
    # each size's vectors reach the output
    model.eval()
    out = model(ids)
    large.load(torch.zeros(20, 3), torch.zeros(3))
    assert not torch.allclose(model(ids), out)

    monkeypatch.setattr(strong, "pretrain_region_context", lambda *a, **k: 1 / 0)
    again = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    strong.install_context(again, lambda texts: ids, ["x"] * 6, settings, folder)
    assert torch.equal(again.contexts()[0].table, small.table)
    reloaded = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    strong.install_context(reloaded, lambda texts: ids, ["x"] * 6, settings, folder)
    assert torch.equal(reloaded.contexts()[1].table, again.contexts()[1].table)
    assert not torch.equal(reloaded.contexts()[1].table, reloaded.contexts()[0].table)
    # a cache from other settings is refused with the fix, not a traceback
    wider = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4, 6], context_dim=3)
    with pytest.raises(UserError, match="delete it to pretrain"):
        strong.install_context(
            wider, lambda t: ids, ["x"] * 6, settings | {"context_size": "2,4,6"}, folder
        )
    other_dim = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=5)
    with pytest.raises(UserError, match="delete it to pretrain"):
        strong.install_context(other_dim, lambda t: ids, ["x"] * 6, settings, folder)


def test_region_cnn_preset_takes_several_context_sizes(imdb_dir, tmp_path, capsys):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--context-dim", "5", "--context-size", "2,3"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "pretrained context: 2-word regions" in printed
    assert "pretrained context: 3-word regions" in printed
    assert json.loads((out / "config.json").read_text())["config"]["context_size"] == "2,3"
    classifier = convseq.load(out)
    assert [c.size for c in members_of(classifier.model)[0].contexts()] == [2, 3]
    assert len(classifier.predict(["a great film"])) == 1


def test_settings_saved_before_ensembles_and_size_lists_still_pass_the_checks():
    from convseq.experiments.imdb_strong import REGION_DEFAULTS, check_region, context_sizes

    old = {k: v for k, v in REGION_DEFAULTS.items() if k != "members"} | {"context_size": 5}
    check_region(old)  # a config.json from before --members, with an int context size
    assert context_sizes(old) == [5]
    assert context_sizes({"context_size": "3,5"}) == [3, 5]
