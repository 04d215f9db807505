"""jena-tcn and etth1-tcn end to end on tiny files: run folders, derived columns, bad input."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from convseq.cli import main
from convseq.data.derived import CALENDAR_COLUMNS
from convseq.models.registry import rebuild
from tests.series_files import JENA_COLUMNS, write_ett, write_jena

# 700 rows: windows of 65 steps, about 220 / 40 / 44 windows per split
TINY = [
    "--lookback", "130", "--step", "2", "--delay", "6",
    "--splits", "0:350,350:520,520:", "--eval-batch-size", "64",
    "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
]  # fmt: skip
WIND = ["wv x (m/s)", "wv y (m/s)", "max. wv x (m/s)", "max. wv y (m/s)"]


def jena_with_error_marks(folder):
    """The Jena CSV with two -9999 wind-speed readings, as the real file has."""
    values = write_jena(folder, rows=700, zipped=False)
    path = folder / "jena_climate_2009_2016.csv"
    lines = path.read_text().splitlines()
    speed = JENA_COLUMNS.index("wv (m/s)") + 1  # +1: the time column comes first
    for row in (30, 400):
        cells = lines[row + 1].split(",")
        cells[speed] = "-9999.00"
        lines[row + 1] = ",".join(cells)
        values[row, speed - 1] = -9999.0
    path.write_text("\n".join(lines) + "\n")
    speeds = values[:, [JENA_COLUMNS.index("wv (m/s)"), JENA_COLUMNS.index("max. wv (m/s)")]]
    return int((speeds < 0).sum())


def run(tmp_path, name, data, *extra):
    out = tmp_path / "runs" / name
    code = main(["run", name, "--data-dir", str(data), "--out", str(out), *TINY, *extra])
    return code, out


def read(folder, name):
    return json.loads((folder / name).read_text())


def saved_metadata(folder):
    """What the weights record: the model's name, shape and settings."""
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        metadata = weights.metadata()
    return {k: json.loads(metadata[k]) for k in ("model", "shape", "settings")}


def test_jena_tcn_reads_wind_as_vectors_and_the_calendar(tmp_path, capsys):
    clipped = jena_with_error_marks(tmp_path / "jena")
    code, folder = run(tmp_path, "jena-tcn", tmp_path / "jena")
    assert code == 0
    assert f"wind: {clipped} negative speed readings clipped to 0" in capsys.readouterr().out
    metrics = read(folder, "metrics.json")
    assert metrics["model"] == "series-tcn" and metrics["dataset"] == "jena"
    assert metrics["epochs_run"] == 1 and metrics["params"] > 0
    shaping = read(folder, "config.json")["config"]["shaping"]
    assert shaping["calendar"] is True and shaping["wind_vector"] is True
    norm = read(folder, "normalization.json")
    kept = [c for c in JENA_COLUMNS if c not in ("wv (m/s)", "max. wv (m/s)", "wd (deg)")]
    assert norm["columns"] == kept + WIND + list(CALENDAR_COLUMNS)
    assert len(norm["mean"]) == len(norm["std"]) == len(norm["columns"]) == 19
    assert norm["derived"]["calendar"] == list(CALENDAR_COLUMNS)
    assert norm["derived"]["wind"]["columns"] == WIND
    assert norm["derived"]["wind"]["direction"] == "wd (deg)"
    assert norm["derived"]["wind"]["clipped"] == clipped
    # Jena is read in absolute values, as in the reference: nothing is anchored
    metadata = saved_metadata(folder)
    assert metadata["settings"]["residual"] is False
    assert metadata["shape"]["absolute_features"] == []


def test_jena_tcn_without_the_options_reads_the_raw_columns(tmp_path):
    write_jena(tmp_path / "jena", rows=700)
    code, folder = run(tmp_path, "jena-tcn", tmp_path / "jena", "--no-calendar", "--no-wind-vector")
    assert code == 0
    norm = read(folder, "normalization.json")
    assert norm["columns"] == JENA_COLUMNS
    assert norm["derived"] == {"calendar": [], "wind": None}


def test_etth1_tcn_runs_and_keeps_calendar_columns_absolute(tmp_path):
    write_ett(tmp_path / "ett", rows=700)
    code, folder = run(tmp_path, "etth1-tcn", tmp_path / "ett", "--calendar")
    assert code == 0
    norm = read(folder, "normalization.json")
    assert norm["columns"] == ["OT", *CALENDAR_COLUMNS]
    assert read(folder, "config.json")["config"]["shaping"]["target"] == "OT"
    metadata = saved_metadata(folder)
    assert metadata["model"] == "series-tcn" and metadata["settings"]["residual"] is True
    assert metadata["shape"]["absolute_features"] == [1, 2, 3, 4]
    # the weights load back into the model the metadata describes, and it forecasts
    model = rebuild(metadata)
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        model.load_state_dict({k: weights.get_tensor(k) for k in weights.keys()})
    metrics = read(folder, "metrics.json")
    assert np.isfinite(metrics["test_mae"]) and metrics["model"] == "series-tcn"
    assert read(folder, "config.json")["config"]["shaping"]["calendar"] is True


def test_the_wind_columns_are_read_even_when_features_leave_them_out(tmp_path):
    write_jena(tmp_path / "jena", rows=700)
    code, folder = run(
        tmp_path, "jena-tcn", tmp_path / "jena", "--features", "p (mbar)", "--no-calendar"
    )
    assert code == 0
    assert read(folder, "normalization.json")["columns"] == ["p (mbar)", "T (degC)", *WIND]


def test_series_csv_trains_a_tcn_with_calendar_columns(tmp_path):
    path = write_ett(tmp_path / "ett", rows=700)
    out = tmp_path / "runs" / "csv"
    args = ["run", "series-csv", "--data", str(path), "--target", "OT", "--model", "series-tcn"]
    assert main([*args, "--calendar", "--out", str(out), *TINY]) == 0
    assert read(out, "metrics.json")["model"] == "series-tcn"
    assert read(out, "normalization.json")["columns"][-4:] == list(CALENDAR_COLUMNS)


@pytest.mark.parametrize(
    "preset, extra, message",
    [
        ("jena-tcn", ["--wind-columns", "wv (m/s),wdd"], "no column 'wdd' (did you mean 'wd (deg)'?)"),
        ("jena-tcn", ["--wind-columns", "wd (deg)"], "one or more speed columns and then the direction"),
        ("jena-tcn", ["--target", "wv (m/s)"], "is one of the wind columns"),
        ("etth1-tcn", ["--dilations", "1,x"], "--dilations must be int values separated by commas, got '1,x'"),
        ("etth1-tcn", ["--dilations", "1,0"], "--dilations must be at least 1, got 0"),
        ("etth1-tcn", ["--norm", "batch"], "unknown TCN norm 'batch'"),
        ("etth1-tcn", ["--channels", "0"], "--channels must be at least 1, got 0"),
        ("etth1-tcn", ["--dropout", "1"], "--dropout must be at least 0 and below 1, got 1.0"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_exit_2_and_leave_nothing(
    tmp_path, capsys, preset, extra, message
):
    write_jena(tmp_path / "data", rows=700)
    write_ett(tmp_path / "data", rows=700)
    code, folder = run(tmp_path, preset, tmp_path / "data", *extra)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("convseq: error: ")
    assert not folder.exists()
