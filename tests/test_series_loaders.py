"""Series read through pandas on small files in the real layouts, and their one-line errors."""

import numpy as np
import pytest

from convseq.data.series import describe, load_dataset, read_series
from convseq.data.splits import parse_splits
from convseq.errors import UserError
from tests.conftest import SHARED_DATA
from tests.series_files import ETT_COLUMNS, JENA_COLUMNS, ett_lines, write_ett, write_jena


@pytest.mark.parametrize("zipped", [True, False])
def test_jena_loader_reads_the_keras_layout(tmp_path, zipped):
    values = write_jena(tmp_path, rows=300, zipped=zipped)
    series = load_dataset("jena", tmp_path)
    assert series.columns == JENA_COLUMNS
    assert series.values.shape == (300, 14)
    np.testing.assert_allclose(series.values, values)
    assert str(series.times[0]) == "2009-01-01T00:10:00"
    assert str(series.times[-1]) == "2009-01-03T02:00:00"  # 299 ten-minute steps later
    assert "300 rows x 14 columns" in describe(series)
    # a clean file: nothing counted, nothing dropped, the named dataset's order kept
    report = series.report
    assert (report.steps_back, report.repeated_times, report.dropped) == (0, 0, 0)
    assert report.policy == "as-given" and report.sentinels == {}
    assert report.lines(series.source) == []


def test_jena_loader_prefers_env_folder_when_no_data_dir(tmp_path, monkeypatch):
    write_jena(tmp_path / "env", rows=50)
    monkeypatch.setenv("CONVSEQ_DATA", str(tmp_path / "env"))
    assert len(load_dataset("jena", None)) == 50


def test_etth1_loader_reads_the_etdataset_layout(tmp_path):
    lines, values = ett_lines(100)
    write_ett(tmp_path, lines=lines)
    series = load_dataset("etth1", tmp_path)
    assert series.columns == ETT_COLUMNS
    np.testing.assert_array_equal(series.values, values)
    assert str(series.times[1]) == "2016-07-01T01:00:00"
    only_ot = load_dataset("etth1", tmp_path, columns=["OT"])
    assert only_ot.columns == ["OT"]
    np.testing.assert_array_equal(only_ot.values[:, 0], values[:, -1])


def test_a_users_copy_of_jena_is_read_day_first_without_a_time_format(tmp_path):
    """dd.mm.yyyy read month first would step back at every month's 13th day."""
    stamps = [f"{d:02d}.01.2009 {h:02d}:00:00" for d in (11, 12, 13) for h in (0, 12)]
    path = tmp_path / "weather.csv"
    path.write_text("Date Time,T\n" + "".join(f"{t},{i}.5\n" for i, t in enumerate(stamps)))
    series = read_series(path, "Date Time", ["T"], time_order="check")  # refuses a step back
    assert [str(t) for t in series.times[:3]] == [
        "2009-01-11T00:00:00",
        "2009-01-11T12:00:00",
        "2009-01-12T00:00:00",
    ]
    # a file that reads one way only keeps that reading: 01/13 can only be month first
    path.write_text("when,x\n01/12/2020 10:00,1\n01/13/2020 10:00,2\n")
    assert str(read_series(path, "when", ["x"]).times[1]) == "2020-01-13T10:00:00"


def test_generic_csv_with_chosen_columns_quotes_and_time_format(tmp_path):
    path = tmp_path / "sensor.csv"
    path.write_text(
        'when,"a, quoted name",b,c\n'
        '01/02/2020 10:00,"1.5",2,3\n'
        "01/02/2020 11:00,2.5,4,6\n"
        "01/02/2020 12:00,3.5,6,9\n"
    )
    series = read_series(path, "when", ["c", "a, quoted name"], time_format="%d/%m/%Y %H:%M")
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
            dict(line_number=9, line="2016-07-01 07:00:00,1,2,3,4,5,6,7,8,9"),
            "Expected 8 fields in line 9, saw 10",
        ),
        (
            dict(line_number=10, line="2016-07-01 03:00:00,1,2,3,4,5,6,7"),
            "line 10: time 2016-07-01 03:00:00 comes before 2016-07-01 07:00:00",
        ),
        (
            dict(line_number=11, line="2016-07-01 08:00:00,1,2,3,4,5,6,7"),
            "line 11: time 2016-07-01 08:00:00 repeats an earlier row's",
        ),
        (
            dict(line_number=4, line="yesterday,1,2,3,4,5,6,7"),
            "line 4: date 'yesterday' is not a date and time",
        ),
    ],
)
def test_bad_cells_and_times_name_line_and_column(tmp_path, edit, message):
    path = ett_with(tmp_path, **edit)
    with pytest.raises(UserError) as caught:
        read_series(path, "date")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_row_with_too_few_fields_names_its_first_missing_cell(tmp_path):
    # pandas pads a short row; the first cell it lacks is named, with its line
    path = ett_with(tmp_path, 9, line="2016-07-01 07:00:00,1,2,3")
    with pytest.raises(UserError, match="line 9, column 'MULL': an empty cell is not a number"):
        read_series(path, "date")


def test_repeated_and_backward_times_follow_the_time_order(tmp_path):
    # line 11 repeats line 10's time (08:00) with other values; line 14 steps back to 06:00
    lines, values = ett_lines(30)
    lines[10] = "2016-07-01 08:00:00,1,2,3,4,5,6,7"
    lines[13] = lines[7]  # 2016-07-01 06:00:00, an exact copy of line 8
    path = write_ett(tmp_path, lines=lines)
    with pytest.raises(UserError, match="line 11: .*pass --time-order as-given"):
        read_series(path, "date")

    given = read_series(path, "date", time_order="as-given")
    assert len(given) == 30 and given.values[9, 0] == 1  # every row, in file order
    report = given.report
    assert (report.steps_back, report.repeated_times, report.repeated_rows) == (1, 2, 1)
    assert report.first_step_back == "line 14, 2016-07-01 06:00:00 after 2016-07-01 11:00:00"
    assert report.dropped == 0 and not report.sorted
    assert "rows kept in file order (--time-order as-given)" in report.lines("ETTh1.csv")[0]

    # drop-repeats keeps the first row of each time; what remains here only goes forward
    kept = read_series(path, "date", time_order="drop-repeats")
    assert len(kept) == 28 and len(np.unique(kept.times)) == 28
    assert kept.values[8, 0] == values[8, 0]  # the first of the two rows at 08:00 is kept
    assert kept.report.dropped == 2 and kept.increasing

    # sort orders by time (stably) and keeps the first row of each time
    lines[13] = "2016-07-01 06:30:00,9,9,9,9,9,9,9"  # a step back that is not a repeat
    path = write_ett(tmp_path, lines=lines)
    with pytest.raises(UserError, match="line 14: time 2016-07-01 06:30:00 comes before"):
        read_series(path, "date", time_order="drop-repeats")
    ordered = read_series(path, "date", time_order="sort")
    assert ordered.increasing and len(ordered) == 29 and ordered.report.sorted
    assert ordered.values[7, 0] == 9 and ordered.report.dropped == 1


def test_error_marks_are_counted_and_kept(tmp_path):
    lines, values = ett_lines(30)
    for k in (3, 17):
        cells = lines[k].split(",")
        cells[-1] = "-9999.0"
        lines[k] = ",".join(cells)
    series = read_series(write_ett(tmp_path, lines=lines), "date")
    assert series.report.sentinels == {"OT": 2}
    assert series.values[2, -1] == -9999.0 and series.values[16, -1] == -9999.0
    assert "-9999 error marks kept as values: OT 2" in series.report.lines("ETTh1.csv")[0]


def test_missing_columns_suggest_the_closest_name(tmp_path):
    write_ett(tmp_path, rows=30)
    series = load_dataset("etth1", tmp_path)
    with pytest.raises(UserError, match="no column 'OTT' \\(did you mean 'OT'\\?\\)"):
        series.index_of("OTT", "target")
    with pytest.raises(UserError) as caught:
        read_series(tmp_path / "ETTh1.csv", "data")
    message = str(caught.value)
    assert "no column 'data' (did you mean 'date'?)" in message
    assert f"its columns are: {', '.join(['date', *ETT_COLUMNS])};" in message
    assert message.endswith("pass the right one with --time-column")


def test_unreadable_files_are_user_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("date,OT\n")
    with pytest.raises(UserError, match="no data rows"):
        read_series(tmp_path / "empty.csv", "date")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="binary.csv is not valid utf-8: byte 0xff on line 1"):
        read_series(tmp_path / "binary.csv", "date")
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(UserError, match="blank.csv is empty"):
        read_series(tmp_path / "blank.csv", "date")


def test_splits_as_row_ranges_or_fractions():
    assert parse_splits(["0:8640", "8640:11520", "11520:14400"], 17420) == [
        (0, 8640),
        (8640, 11520),
        (11520, 14400),
    ]
    assert parse_splits(["0:200000", "200001:300000", "300001:"], 420551)[2] == (300001, 420551)
    assert parse_splits(["0.7", "0.2", "0.1"], 1000) == [(0, 700), (700, 900), (900, 1000)]
    for bad, message in [
        ("0:10,10:20", "three parts"),
        ("0.7,0.2,0.2", "sum to at most 1"),
        ("0:10,10:5,20:30", "not a range of rows"),
        ("0:10,1o:20,20:30", "not a row range"),
        ("0.5,10:20,0.1", "mixes fractions"),
        ("0:50,50:80,80:120", "the test split 80:120 lies past the end of the file, which has 100"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_splits(bad.split(","), 100)


ETTH1_FILE = SHARED_DATA / "ETTh1.csv"


@pytest.mark.skipif(not ETTH1_FILE.exists(), reason=f"real ETTh1.csv not found at {ETTH1_FILE}")
def test_real_etth1_file():
    series = load_dataset("etth1", SHARED_DATA)
    assert series.values.shape == (17_420, 7) and series.columns == ETT_COLUMNS
    assert str(series.times[0]) == "2016-07-01T00:00:00"
    assert str(series.times[-1]) == "2018-06-26T19:00:00"
    assert series.report.steps_back == series.report.repeated_times == 0


@pytest.mark.parametrize(
    "stamp, message",
    [
        ("32.01.2009 00:20:00", "line 3: Date Time '32.01.2009 00:20:00' is not the format"),
        ("1.1.2009 00:20", "line 3: Date Time '1.1.2009 00:20' is not the format"),
    ],
)
def test_jena_times_off_the_fixed_layout_are_named(tmp_path, stamp, message):
    write_jena(tmp_path, rows=5, zipped=False)
    path = tmp_path / "jena_climate_2009_2016.csv"
    lines = path.read_text().splitlines()
    lines[2] = stamp + lines[2][19:]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=message):
        load_dataset("jena", tmp_path)


def test_jena_single_digit_days_still_parse(tmp_path):
    write_jena(tmp_path, rows=5, zipped=False)
    path = tmp_path / "jena_climate_2009_2016.csv"
    lines = path.read_text().splitlines()
    lines[1] = "1.1.2009 00:10:00" + lines[1][19:]
    path.write_text("\n".join(lines) + "\n")
    assert str(load_dataset("jena", tmp_path).times[0]) == "2009-01-01T00:10:00"
