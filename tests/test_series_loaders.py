"""CSV series loaders on small files in the real layouts, and their one-line errors."""

import numpy as np
import pytest

from convseq.data.series import (
    describe,
    load_etth1,
    load_jena,
    parse_splits,
    read_series_csv,
)
from convseq.errors import UserError
from tests.conftest import SHARED_DATA
from tests.series_files import ETT_COLUMNS, JENA_COLUMNS, ett_lines, write_ett, write_jena


@pytest.mark.parametrize("zipped", [True, False])
def test_jena_loader_reads_the_keras_layout(tmp_path, zipped):
    values = write_jena(tmp_path, rows=300, zipped=zipped)
    series = load_jena(tmp_path)
    assert series.columns == JENA_COLUMNS
    assert series.values.shape == (300, 14)
    np.testing.assert_allclose(series.values, values)
    assert str(series.times[0]) == "2009-01-01T00:10:00"
    assert str(series.times[-1]) == "2009-01-03T02:00:00"  # 299 ten-minute steps later
    assert "300 rows x 14 columns" in describe(series)


def test_jena_loader_prefers_env_folder_when_no_data_dir(tmp_path, monkeypatch):
    write_jena(tmp_path / "env", rows=50)
    monkeypatch.setenv("CONVSEQ_DATA", str(tmp_path / "env"))
    assert len(load_jena()) == 50


def test_etth1_loader_reads_the_etdataset_layout(tmp_path):
    lines, values = ett_lines(100)
    write_ett(tmp_path, lines=lines)
    series = load_etth1(tmp_path)
    assert series.columns == ETT_COLUMNS
    np.testing.assert_array_equal(series.values, values)
    assert str(series.times[1]) == "2016-07-01T01:00:00"


def test_generic_csv_with_chosen_columns_quotes_and_time_format(tmp_path):
    path = tmp_path / "sensor.csv"
    path.write_text(
        'when,"a, quoted name",b,c\n'
        '01/02/2020 10:00,"1.5",2,3\n'
        "01/02/2020 11:00,2.5,4,6\n"
        "01/02/2020 12:00,3.5,6,9\n"
    )
    series = read_series_csv(path, "when", ["c", "a, quoted name"], time_format="%d/%m/%Y %H:%M")
    assert series.columns == ["c", "a, quoted name"]
    np.testing.assert_array_equal(series.values, [[3, 1.5], [6, 2.5], [9, 3.5]])
    assert str(series.times[0]) == "2020-02-01T10:00:00"


def ett_with(tmp_path, line_number: int, replace: tuple[str, str] | None = None, line=None):
    """ETTh1.csv whose line ``line_number`` (1 = header) is edited."""
    lines, _ = ett_lines(30)
    if replace:
        lines[line_number - 1] = lines[line_number - 1].replace(*replace, 1)
    if line is not None:
        lines[line_number - 1] = line
    return write_ett(tmp_path, lines=lines)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            dict(line_number=5, line="2016-07-01 03:00:00,1,2,oops,4,5,6,7"),
            "line 5, column 'MUFL': 'oops' is not a number",
        ),
        (
            dict(line_number=6, line="2016-07-01 04:00:00,1,2,3,4,,6,7"),
            "line 6, column 'LUFL': an empty cell",
        ),
        (
            dict(line_number=7, line="2016-07-01 05:00:00,1,2,3,4,5,6,nan"),
            "line 7, column 'OT': nan is not a finite",
        ),
        (
            dict(line_number=8, line="2016-07-01 06:00:00,1,inf,3,4,5,6,7"),
            "line 8, column 'HULL': inf is not a finite",
        ),
        (
            dict(line_number=9, line="2016-07-01 07:00:00,1,2,3"),
            "line 9 has 4 fields but the header has 8",
        ),
        (
            dict(line_number=10, line="2016-07-01 03:00:00,1,2,3,4,5,6,7"),
            "line 10: timestamp 2016-07-01T03:00:00 comes before",
        ),
        (
            dict(line_number=11, line="2016-07-01 08:00:00,1,2,3,4,5,6,7"),
            "line 11 repeats the timestamp 2016-07-01T08:00:00",
        ),
        (
            dict(line_number=4, line="yesterday,1,2,3,4,5,6,7"),
            "line 4: timestamp 'yesterday' is not ISO 8601",
        ),
    ],
)
def test_bad_cells_and_times_name_line_and_column(tmp_path, edit, message):
    path = ett_with(tmp_path, **edit)
    with pytest.raises(UserError) as caught:
        read_series_csv(path, "date")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_duplicate_times_can_be_dropped_keeping_the_first(tmp_path):
    path = ett_with(tmp_path, 11, line="2016-07-01 08:00:00,1,2,3,4,5,6,7")
    series = read_series_csv(path, "date", duplicate_times="drop")
    assert len(series) == 29 and len(np.unique(series.times)) == 29
    assert series.values[9, 0] != 1  # the first of the two rows at 08:00 is kept


def test_missing_columns_suggest_the_closest_name(tmp_path):
    write_ett(tmp_path, rows=30)
    series = load_etth1(tmp_path)
    with pytest.raises(UserError, match="no column 'OTT' \\(did you mean 'OT'\\?\\)"):
        series.index_of("OTT", "target")
    with pytest.raises(UserError, match="no timestamp column 'data' \\(did you mean 'date'\\?\\)"):
        read_series_csv(tmp_path / "ETTh1.csv", "data")


def test_unreadable_files_are_user_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("date,OT\n")
    with pytest.raises(UserError, match="no data rows"):
        read_series_csv(tmp_path / "empty.csv", "date")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="cannot read"):
        read_series_csv(tmp_path / "binary.csv", "date")


def test_splits_as_row_ranges_or_fractions():
    assert parse_splits("0:8640,8640:11520,11520:14400", 17420) == [
        (0, 8640),
        (8640, 11520),
        (11520, 14400),
    ]
    assert parse_splits("0:200000,200001:300000,300001:", 420551)[2] == (300001, 420551)
    assert parse_splits("0.7,0.2,0.1", 1000) == [(0, 700), (700, 900), (900, 1000)]
    for bad, message in [
        ("0:10,10:20", "three parts"),
        ("0.7,0.2,0.2", "sum to at most 1"),
        ("0:10,10:5,20:30", "validation split 10:5 is empty"),
        ("0:10,1o:20,20:30", "not a row range"),
        ("0.5,10:20,0.1", "mixes fractions"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_splits(bad, 100)


ETTH1_FILE = SHARED_DATA / "ETTh1.csv"


@pytest.mark.skipif(not ETTH1_FILE.exists(), reason=f"real ETTh1.csv not found at {ETTH1_FILE}")
def test_real_etth1_file():
    series = load_etth1(SHARED_DATA)
    assert series.values.shape == (17_420, 7) and series.columns == ETT_COLUMNS
    assert str(series.times[0]) == "2016-07-01T00:00:00"
    assert str(series.times[-1]) == "2018-06-26T19:00:00"


@pytest.mark.parametrize(
    "stamp, message",
    [
        ("32.01.2009 00:20:00", "line 3: timestamp '32.01.2009 00:20:00' does not match"),
        ("1.1.2009 00:20", "line 3: timestamp '1.1.2009 00:20' does not match"),
    ],
)
def test_jena_times_off_the_fixed_layout_are_named(tmp_path, stamp, message):
    write_jena(tmp_path, rows=5, zipped=False)
    path = tmp_path / "jena_climate_2009_2016.csv"
    lines = path.read_text().splitlines()
    lines[2] = stamp + lines[2][19:]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=message):
        load_jena(tmp_path)


def test_jena_single_digit_days_still_parse(tmp_path):
    write_jena(tmp_path, rows=5, zipped=False)
    path = tmp_path / "jena_climate_2009_2016.csv"
    lines = path.read_text().splitlines()
    lines[1] = "1.1.2009 00:10:00" + lines[1][19:]
    path.write_text("\n".join(lines) + "\n")
    assert str(load_jena(tmp_path).times[0]) == "2009-01-01T00:10:00"
