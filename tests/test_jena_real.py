"""The reference presets on the Jena file as it really is: rows in file order, defects counted."""

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convseq.cli import main
from convseq.data.series import load_dataset, read_series
from convseq.presets import PRESETS
from tests.conftest import SHARED_DATA
from tests.forecast_helpers import refused
from tests.real_files import DAY, real_jena_rows, write_real_jena

JENA_PRESETS = sorted(name for name, p in PRESETS.items() if p.dataset == "jena")
# a small window of the real layout: 22 hours of ten-minute rows, every 2nd, 1 h ahead
SMALL = ["--lookback", "132", "--step", "2", "--delay", "6", "--splits", "0:600,600:900,900:"]
QUICK = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "16"]


@pytest.mark.parametrize("form", ["csv", "csv.gz", "csv.zip"])
def test_every_form_of_the_file_reads_the_same(tmp_path, form):
    where = write_real_jena(tmp_path / form, form)
    series = load_dataset("jena", str(tmp_path / form), None, "as-given")
    reference = load_dataset("jena", str(_plain(tmp_path)), None, "as-given")
    assert len(series) == where["rows"] == len(reference)
    assert np.array_equal(series.values, reference.values)
    assert np.array_equal(series.times, reference.times)


def _plain(tmp_path: Path) -> Path:
    folder = tmp_path / "plain"
    if not folder.exists():
        write_real_jena(folder, "csv")
    return folder


def test_rows_are_taken_in_file_order_and_their_defects_counted(tmp_path):
    where = write_real_jena(tmp_path, "csv")
    series = load_dataset("jena", str(tmp_path), None, "as-given")
    report = series.report
    assert len(series) == where["rows"]  # nothing dropped or reordered
    assert report.steps_back == 1 and str(where["step_back_line"]) in report.first_step_back
    assert report.repeated_times == report.repeated_rows == DAY
    assert report.sentinels == {"wv (m/s)": 1}
    assert (np.diff(series.times) < np.timedelta64(0, "s")).sum() == 1


@pytest.mark.parametrize(
    "policy, rows_dropped, steps_back_left",
    [("drop-repeats", DAY, 0), ("sort", DAY, 0), ("as-given", 0, 1)],
)
def test_other_policies_are_options(tmp_path, policy, rows_dropped, steps_back_left):
    where = write_real_jena(tmp_path, "csv")
    series = load_dataset("jena", str(tmp_path), None, policy)
    assert len(series) == where["rows"] - rows_dropped
    assert (np.diff(series.times) < np.timedelta64(0, "s")).sum() == steps_back_left
    assert series.report.dropped == rows_dropped


@pytest.mark.parametrize("name", JENA_PRESETS)
def test_every_jena_preset_runs_on_the_real_format(tmp_path, name):
    write_real_jena(tmp_path / "data", "csv.zip")
    out = tmp_path / "run"
    argv = ["run", name, "--data-dir", str(tmp_path / "data"), *SMALL, "--out", str(out)]
    if PRESETS[name].model != "common-sense":
        argv += QUICK
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["rows"]
    assert rows["steps_back"] == 1 and rows["repeated_rows"] == DAY
    assert rows["sentinels"] == {"wv (m/s)": 1} and rows["gaps"]["missing_rows"] == 2
    assert rows["time_order"] == "as-given" and rows["dropped"] == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["source"]["time_order"] == "as-given"


def test_calendar_columns_use_each_rows_own_time(tmp_path):
    """jena-tcn's day phase follows each row's own time, the repeated day included."""
    from convseq.data.derived import derive

    where = write_real_jena(tmp_path, "csv")
    series = load_dataset("jena", str(tmp_path), None, "as-given")
    derived, _ = derive(series, calendar=True)
    day_sin = derived.columns.index("day sin")
    back = where["step_back_line"] - 2  # data row of the first repeated row: 00:10
    for row, minutes in ((back - 1, 0), (back, 10), (back + 1, 20)):  # 00:00, then 00:10 again
        assert str(series.times[row]).endswith(f"T00:{minutes:02d}:00")
        expected = np.sin(2 * np.pi * minutes / 1440)
        assert derived.values[row, day_sin] == pytest.approx(expected, abs=1e-9)


def test_a_users_file_that_steps_back_is_refused_naming_row_and_options(tmp_path, capsys):
    lines, where = real_jena_rows()
    data = tmp_path / "weather.csv"
    data.write_text("\n".join(lines) + "\n")
    base = ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "Date Time", "--time-format",
            "%d.%m.%Y %H:%M:%S", "--target", "T (degC)", *SMALL, *QUICK]  # fmt: skip
    err = refused([*base, "--out", str(tmp_path / "r")], capsys, f"line {where['step_back_line']}")
    assert "--time-order as-given" in err and "drop-repeats" in err and "sort" in err
    assert not (tmp_path / "r").exists()
    assert main([*base, "--time-order", "as-given", "--out", str(tmp_path / "given")]) == 0
    assert main([*base, "--time-order", "drop-repeats", "--out", str(tmp_path / "dropped")]) == 0
    kept = json.loads((tmp_path / "given" / "metrics.json").read_text())["rows"]
    dropped = json.loads((tmp_path / "dropped" / "metrics.json").read_text())["rows"]
    assert kept["dropped"] == 0 and dropped["dropped"] == DAY


def test_a_split_past_the_end_names_the_row_count(tmp_path, capsys):
    where = write_real_jena(tmp_path / "data", "csv")
    refused(
        [
            "run",
            "jena-baseline",
            "--data-dir",
            str(tmp_path / "data"),
            *SMALL[:6],
            "--out",
            str(tmp_path / "r"),
        ],  # fmt: skip
        capsys,
        f"which has {where['rows']:,} rows",
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(
    not (SHARED_DATA / "jena_climate_2009_2016_head.csv.gz").is_file(),
    reason="the real Jena quarter (jena_climate_2009_2016_head.csv.gz) is not in ../shared/data",
)
def test_the_real_quarter(tmp_path):
    """The shared first quarter of the Keras file: its known defects, and a preset run on it."""
    shutil.copy(
        SHARED_DATA / "jena_climate_2009_2016_head.csv.gz",
        tmp_path / "jena_climate_2009_2016.csv.gz",
    )
    series = load_dataset("jena", str(tmp_path), None, "as-given")
    assert len(series) == 106_727
    assert series.report.steps_back == 1 and series.report.repeated_rows == DAY
    assert "line 78768" in series.report.first_step_back
    out = tmp_path / "run"
    split = "0:50000,50001:75000,75001:"
    assert main(["run", "jena-baseline", "--data-dir", str(tmp_path), "--splits", split,
                 "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"]["gaps"]["missing_rows"] == 2
    assert 0.2 < metrics["test_mae"] < 0.5  # normalized common-sense MAE on real weather
    text = gzip.decompress((tmp_path / "jena_climate_2009_2016.csv.gz").read_bytes()).decode()
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    again = read_series(plain, "Date Time", None, "%d.%m.%Y %H:%M:%S", time_order="as-given")
    assert np.array_equal(again.values, series.values)
