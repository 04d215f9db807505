"""Every preset and every registered model, smoke-tested as timm tests its zoo.

A preset added to ``presets.PRESETS`` or a model added to the registry is
tested here without a line of new test code: each preset runs one short
epoch on tiny data in its dataset's real layout and leaves a complete run
folder; each model builds from its own defaults, runs forward, and is
rebuilt exactly from what its weights record.
"""

import json
from dataclasses import fields

import pytest
import torch

import convseq
from convseq.cli import main
from convseq.models.registry import example_input, example_shape, get_model, list_models, rebuild
from convseq.presets import AUTO, PRESETS
from tests.forecast_helpers import write_series
from tests.real_files import write_real_jena
from tests.series_files import write_ett
from tests.text_helpers import TOPICS, make_rows, write_csv

WINDOW = ["--lookback", "132", "--step", "2", "--delay", "6"]
TEXT = ["--max-len", "64", "--vocab-size", "60"]
ETT_SPLITS = "0:400,400:550,550:"
# small versions of the big models, so that every preset runs in seconds
SMALL_MODELS = {
    "text-region-cnn": ["--channels", "8", "--context-dim", "8", "--ngram-buckets", "1009"],
    "text-tcn": ["--channels", "8", "--embed-dim", "8"],
    "rocket": ["--kernels", "200"],
}


def setting_names(preset) -> list[str]:
    """Every flat setting name of ``preset``: its groups' fields, then its model's settings."""
    names = [f.name for cls in preset.groups.values() for f in fields(cls)]
    return names + list(preset.model_defaults(preset.model))


def preset_argv(name: str, tmp_path) -> list[str]:
    """``convseq`` arguments that run preset ``name`` for one short epoch on tiny data."""
    preset = PRESETS[name]
    argv = ["run", name]
    if preset.dataset == "imdb":
        from tests.conftest import write_imdb_tarball

        (tmp_path / "imdb").mkdir()
        write_imdb_tarball(tmp_path / "imdb" / "aclImdb_v1.tar.gz")
        argv += ["--data-dir", str(tmp_path / "imdb"), *TEXT]
    elif preset.dataset == "jena":
        write_real_jena(tmp_path / "jena", "csv.zip")
        argv += ["--data-dir", str(tmp_path / "jena"), *WINDOW, "--splits", "0:600,600:900,900:"]
    elif preset.dataset == "etth1":
        write_ett(tmp_path / "ett", rows=700)
        window = (
            WINDOW if not preset.data.get("horizon") else ["--lookback", "48", "--horizon", "6"]
        )
        argv += ["--data-dir", str(tmp_path / "ett"), *window, "--splits", ETT_SPLITS]
    elif preset.dataset == "ucr":
        from tests.case_helpers import write_archive

        archive = preset.data.get("archive", "GunPoint")
        write_archive(tmp_path / "ucr", archive, channels=2, unequal=True)
        argv += ["--data-dir", str(tmp_path / "ucr")]
    elif preset.task == "classify":
        from tests.case_helpers import write_archive

        write_archive(tmp_path / "ucr", "Tiny", unequal=True)
        argv = ["train", "classify", str(tmp_path / "ucr" / "Tiny_TRAIN.ts"),
                "--test", str(tmp_path / "ucr" / "Tiny_TEST.ts")]  # fmt: skip
    elif preset.task == "text":
        data = write_csv(tmp_path / "news.csv", make_rows(TOPICS, 60))
        argv = ["train", "text", str(data), *TEXT]
    else:
        data = write_series(tmp_path / "load.csv", rows=700)
        kind = (
            ["run", name, "--data", str(data)]
            if name == "series-csv"
            else ["train", "forecast", str(data)]
        )
        argv = [*kind, "--time-column", "time", "--target", "load", *WINDOW, "--splits", ETT_SPLITS]
    if preset.model == AUTO or get_model(preset.model).trainable:
        argv += ["--epochs", "1", "--batch-size", "8"]
        if preset.task == "forecast":
            argv += ["--steps-per-epoch", "4"]
    return argv + SMALL_MODELS.get(preset.model, [])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_into_a_complete_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = PRESETS[name]
    out = tmp_path / "run"
    argv = preset_argv(name, tmp_path)
    assert main([*argv, "--out", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    expected = {"config.json", "history.csv", "metrics.json", "model.safetensors"}
    if preset.model == AUTO:  # its candidates' histories are in their own folders
        expected = expected - {"history.csv"} | {"candidates"}
    expected |= (
        {"tokenizer.json", "confusion.png"} if preset.task == "text" else {"normalization.json"}
    )
    if preset.task == "classify":
        expected.add("confusion.png")
    if preset.model == AUTO or get_model(preset.model).trainable:
        expected.add("curves.png")
    assert expected <= files and "checkpoint.pt" not in files
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["preset"] == name and config["model"]["name"] == preset.model
    for key, value in preset.model_settings.items():
        assert config["model"]["settings"][key] == value
    for key, value in {**preset.data, **preset.train}.items():
        group = (
            "train"
            if key in preset.train
            else next(g for g in ("source", "shaping") if key in config[g])
        )
        if f"--{key.replace('_', '-')}" not in argv:  # the preset's value, not the test's
            assert config[group][key] == value, key
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["experiment"] == name and metrics["dataset"] == config["dataset"]
    assert convseq.load(out).model_name == preset.model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_lists_its_settings_in_help(name, capsys):
    prog = ["train", PRESETS[name].task] if name.startswith("train-") else ["run", name]
    with pytest.raises(SystemExit) as done:
        main([*prog, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for setting in setting_names(PRESETS[name]):
        if setting != "data" or not name.startswith("train-"):
            assert f"--{setting.replace('_', '-')}" in shown, setting
    assert "(default: " in shown and "--resume" in shown


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_from_its_defaults_and_rebuilds_exactly(name):
    entry = get_model(name)
    shape = example_shape(entry.task)
    settings = entry.settings(entry.example_settings)
    torch.manual_seed(0)
    model = entry.make(shape, settings)
    inputs = example_input(shape)
    model.eval()
    with torch.no_grad():
        output = model(inputs)
    assert output.shape == (len(inputs),) and torch.isfinite(output).all()
    metadata = {"model": name, "shape": shape.__dict__, "settings": settings}
    again = rebuild(json.loads(json.dumps(metadata)))  # as the weights' JSON metadata holds it
    again.load_state_dict(model.state_dict())
    again.eval()
    with torch.no_grad():
        assert torch.equal(again(inputs), output)
    if entry.trainable:
        model.train()
        model(inputs).float().sum().backward()
        assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_every_model_refuses_a_setting_it_does_not_have(name):
    with pytest.raises(convseq.errors.UserError, match=f"model '{name}' has no setting 'colour'"):
        get_model(name).settings({"colour": "blue"})


SERIES_MODELS = [m for m in list_models("forecast") if get_model(m).trainable]


def one_change(name: str) -> tuple[str, object] | None:
    """A setting of the model and a value other than its default (None: it has no settings)."""
    if not get_model(name).defaults:
        return None
    key, default = next(iter(get_model(name).defaults.items()))
    if isinstance(default, bool):
        return key, not default
    if isinstance(default, list):
        return key, default[:2]
    return key, default + 1 if isinstance(default, int) else round(default / 2, 4)


@pytest.mark.parametrize("command", ["series-csv", "train forecast"])
@pytest.mark.parametrize("name", SERIES_MODELS)
def test_a_series_model_trains_with_its_own_defaults_plus_the_users(name, command, tmp_path):
    """`--model X` starts from X's defaults (a GRU gets the GRU's dropout, not cnn-gru's)."""
    data = write_series(tmp_path / "load.csv", rows=700)
    change = one_change(name)
    key, value = change or (None, None)
    shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    option = [
        f"--{key}".replace("_", "-") if value is not False else f"--no-{key}".replace("_", "-")
    ] if change else []  # fmt: skip
    if change and not isinstance(value, bool):
        option.append(shown)
    elif value:
        option = [f"--{key.replace('_', '-')}"]
    head = (
        ["run", "series-csv", "--data", str(data)]
        if command == "series-csv"
        else ["train", "forecast", str(data)]
    )
    out = tmp_path / "run"
    argv = [*head, "--time-column", "time", "--target", "load", *WINDOW, "--splits", ETT_SPLITS, "--epochs", "1",
            "--steps-per-epoch", "2", "--model", name, *option, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    trained = json.loads((out / "config.json").read_text())["config"]["model"]
    assert trained["name"] == name
    assert trained["settings"] == {**get_model(name).defaults, **({key: value} if change else {})}
