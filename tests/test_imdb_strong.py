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


def saved_config(out) -> dict:
    return json.loads((out / "config.json").read_text())["config"]


def test_region_cnn_preset_records_training_options(imdb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--epochs", "3", "--channels", "8", "--region-sizes", "2,3", "--schedule", "cosine"]
    extra += ["--grad-clip", "0.5", "--patience", "1", "--lr", "0.01", "--pool", "maxmean"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "Region sizes: 2, 3 words; pooling: maxmean" in printed
    config = saved_config(out)
    train, model = config["train"], config["model"]
    assert train["schedule"] == "cosine" and train["grad_clip"] == 0.5
    assert train["patience"] == 1 and train["lr"] == 0.01 and train["epochs"] == 3
    assert model["name"] == "text-region-cnn" and model["settings"]["region_sizes"] == [2, 3]
    assert model["settings"]["pool"] == "maxmean" and model["settings"]["channels"] == 8
    # the preset's own values where none was given
    assert train["optimizer"] == "adam" and config["shaping"]["length_buckets"] is True
    assert train["batch_size"] == 4 and config["source"]["validation_split"] == 0.1
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
    config = saved_config(out)
    assert config["model"]["settings"]["dilations"] == [1, 2]
    assert config["shaping"]["length_buckets"] is False
    assert json.loads((out / "metrics.json").read_text())["model"] == "text-tcn"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["imdb-region-cnn", "--schedule", "cosin"], "did you mean 'cosine'"),
        (["imdb-region-cnn", "--region-sizes", "3,x"], "--region-sizes must be int values"),
        (["imdb-region-cnn", "--region-sizes", "0"], "--region-sizes must be at least 1"),
        (["imdb-region-cnn", "--pool", "avg"], "unknown pooling 'avg'"),
        (["imdb-region-cnn", "--members", "0"], "--members must be at least 1"),
        (["imdb-region-cnn", "--context-size", "5,0"], "--context-size must be at least 1"),
        (
            ["imdb-region-cnn", "--context-size", "5,5"],
            "--context-size must list distinct positive",
        ),
        (["imdb-region-cnn", "--ngram-order", "4"], "--ngram-order must be 1, 2 or 3"),
        (["imdb-tcn", "--kernel-size", "4"], "odd kernel size"),
        (["imdb-tcn", "--dilations", "0"], "--dilations must be at least 1"),
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


def test_another_models_setting_is_not_an_option_of_a_preset(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:  # argparse's own errors exit in place
        main(["run", "imdb-cnn", "--region-sizes", "2"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --region-sizes 2" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_region_cnn_with_pretrained_context_trains_saves_and_predicts(imdb_dir, tmp_path, capsys):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--pretrain-epochs", "2", "--context-dim", "6"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra, "--context-size", "3") == 0
    printed = capsys.readouterr().out
    assert "pretraining region vectors: epoch 2/2" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    vocabulary = metrics["vocabulary"]  # the tokenizer's: the model's table rows
    assert f"pretrained context: 3-word regions, table {vocabulary} x 6 (frozen)" in printed
    settings = saved_config(out)["model"]["settings"]
    assert settings["pretrain_epochs"] == 2 and settings["context_dim"] == 6
    assert settings["context_size"] == [3]
    # the tiny tarball: 1 unlabelled review + the 14 training-part reviews (never validation/test)
    assert metrics["pretrain_texts"] == 15 and metrics["pretrain_seconds"] >= 0
    assert (out / "region_context.safetensors").exists()
    classifier = convseq.load(out)  # the frozen table travels in model.safetensors
    network = members_of(classifier.model)[0]  # the preset averages it with an n-gram bag
    assert network.context.table.abs().sum() > 0
    probabilities = classifier.predict(["a great film", "awful and dull"])
    assert len(probabilities) == 2


def install(model, settings, ids, cache):
    """Pretrain (or reuse) the region vectors of ``model``'s members, as the text pipeline does."""
    from convseq.training.prepare_text import install_contexts

    return install_contexts(
        members_of(model), settings, lambda texts: ids, lambda: ["x"] * len(ids), cache, 0, "pre"
    )


def test_pretrained_context_is_reused_when_a_run_resumes(tmp_path, monkeypatch):
    import torch

    import convseq.training.prepare_text as prepare
    from convseq.models.region import RegionCNN

    cache = tmp_path / "region_context.safetensors"
    settings = {"context_size": [3], "context_dim": 4, "pretrain_epochs": 1}
    ids = torch.randint(2, 20, (6, 9))
    first = RegionCNN(vocab_size=20, channels=4, context_size=3, context_dim=4)
    stats = install(first, settings, ids, cache)
    assert stats["pretrain_texts"] == 6 and cache.exists()

    def no_training(*args, **kwargs):
        raise AssertionError("pretrained again instead of reusing the saved table")

    monkeypatch.setattr(prepare, "pretrain_region_context", no_training)
    second = RegionCNN(vocab_size=20, channels=4, context_size=3, context_dim=4)
    assert install(second, settings, ids, cache) == {}
    assert torch.equal(first.context.table, second.context.table)


def test_several_context_sizes_pretrain_one_table_each_and_resume(tmp_path, monkeypatch):
    import torch

    import convseq.training.prepare_text as prepare
    from convseq.models.region import RegionCNN

    cache = tmp_path / "region_context.safetensors"
    settings = {"context_size": [2, 4], "context_dim": 3, "pretrain_epochs": 1}
    ids = torch.randint(2, 20, (6, 9))
    model = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    assert [c.size for c in model.contexts()] == [2, 4]
    assert model.context_map.in_features == 6  # both sets of vectors, side by side
    install(model, settings, ids, cache)
    small, large = model.contexts()
    assert small.table.abs().sum() > 0 and large.table.abs().sum() > 0
    assert not torch.equal(small.table, large.table)
    # each size's vectors reach the output
    model.eval()
    out = model(ids)
    large.load(torch.zeros(20, 3), torch.zeros(3))
    assert not torch.allclose(model(ids), out)

    monkeypatch.setattr(prepare, "pretrain_region_context", lambda *a, **k: 1 / 0)
    again = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    install(again, settings, ids, cache)
    assert torch.equal(again.contexts()[0].table, small.table)
    reloaded = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=3)
    install(reloaded, settings, ids, cache)
    assert torch.equal(reloaded.contexts()[1].table, again.contexts()[1].table)
    assert not torch.equal(reloaded.contexts()[1].table, reloaded.contexts()[0].table)
    # a cache from other settings is refused with the fix, not a traceback
    wider = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4, 6], context_dim=3)
    with pytest.raises(UserError, match="delete it to pretrain"):
        install(wider, settings | {"context_size": [2, 4, 6]}, ids, cache)
    other_dim = RegionCNN(vocab_size=20, channels=4, context_size=[2, 4], context_dim=5)
    with pytest.raises(UserError, match="delete it to pretrain"):
        install(other_dim, settings, ids, cache)


def test_region_cnn_preset_takes_several_context_sizes(imdb_dir, tmp_path, capsys):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--context-dim", "5", "--context-size", "2,3"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "pretrained context: 2-word regions" in printed
    assert "pretrained context: 3-word regions" in printed
    assert saved_config(out)["model"]["settings"]["context_size"] == [2, 3]
    classifier = convseq.load(out)
    assert [c.size for c in members_of(classifier.model)[0].contexts()] == [2, 3]
    assert len(classifier.predict(["a great film"])) == 1


def test_the_region_presets_model_settings_are_the_models_defaults_with_its_changes():
    from convseq.models import get_model
    from convseq.presets import PRESETS

    preset = PRESETS["imdb-region-cnn"]
    entry = get_model("text-region-cnn")
    settings = preset.make_run({"context_size": "3,5", "members": 2}).model_settings
    assert settings == {
        **entry.defaults,
        "pretrain_epochs": 1,
        "ngram_bag": True,
        "context_size": [3, 5],
        "members": 2,
    }
    with pytest.raises(UserError, match="has no setting 'member'.*did you mean 'members'"):
        preset.make_run({"member": 2})
