"""Readers of labelled cases: every format, written here, and malformed files refused in one line
that names the file, the line and the problem."""

import numpy as np
import pytest

from convseq.data.case_files import read_cases
from convseq.data.cases import Scaling, fill_missing, padded, stratified_split
from convseq.errors import UserError
from tests.case_helpers import make_cases, ts_text

HEADER = "@problemName T\n@missing true\n@univariate true\n@equalLength false\n@classLabel true a b\n@data\n"


def test_ts_univariate_equal_lengths_with_comments_and_missing_values(tmp_path):
    series, labels = make_cases(6)
    path = tmp_path / "x_TRAIN.ts"
    path.write_text(ts_text(series, labels, missing_at=(2, 5)))
    cases = read_cases(path)
    assert len(cases) == 6 and cases.channels == 1 and cases.classes == ["up", "down"]
    assert cases.labels == labels and cases.declared
    assert np.isnan(cases.series[2][0, 5]) and np.isnan(cases.series[2]).sum() == 1
    np.testing.assert_allclose(cases.series[0], series[0], atol=1e-5)


def test_ts_multivariate_unequal_lengths(tmp_path):
    series, labels = make_cases(5, channels=3, unequal=True)
    path = tmp_path / "m.ts"
    path.write_text(ts_text(series, labels))
    cases = read_cases(path)
    assert cases.channels == 3 and cases.lengths.tolist() == [s.shape[1] for s in series]


def test_ts_without_labels_reads_cases_to_predict(tmp_path):
    path = tmp_path / "new.ts"
    path.write_text("@univariate true\n@classLabel false\n@data\n1,2,3\n4,5\n")
    cases = read_cases(path)
    assert cases.labels == ["", ""] and cases.classes == [] and cases.lengths.tolist() == [3, 2]
    with pytest.raises(UserError, match="has no class labels"):
        cases.ids(["a", "b"])


def test_ucr_2018_tsv_strips_nan_padding_and_keeps_inner_gaps(tmp_path):
    path = tmp_path / "x_TEST.tsv"
    path.write_text("1\t0.5\t1.5\tNaN\t2.0\n2\t1.0\t2.0\tNaN\tNaN\n")
    cases = read_cases(path)
    assert cases.labels == ["1", "2"] and cases.lengths.tolist() == [4, 2]
    assert np.isnan(cases.series[0][0, 2])


@pytest.mark.parametrize("separator", [" ", "  ", ","])
def test_old_ucr_text_whitespace_or_commas(tmp_path, separator):
    path = tmp_path / "x_TRAIN"
    path.write_text(separator.join(["1.0000000e+00", "0.1", "0.2", "0.3"]) + "\n"
                    + separator.join(["2", "0.3", "0.2", "0.1"]) + "\n")  # fmt: skip
    cases = read_cases(path)
    assert cases.labels == ["1", "2"] and cases.series[1].tolist() == [[0.3, 0.2, 0.1]]


def test_csv_wide_with_string_labels_and_short_rows(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("label,t0,t1,t2\nwalk,1,2,3\nrun,4,5,\n")
    cases = read_cases(path)
    assert cases.labels == ["walk", "run"] and cases.classes == ["run", "walk"]
    assert cases.lengths.tolist() == [3, 2]


def test_csv_long_orders_by_time_and_reads_channels(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,t,label,x,y\nA,1,walk,1,10\nA,0,walk,0,9\nB,0,run,5,6\n")
    cases = read_cases(path, case_column="id", time_column="t")
    assert cases.labels == ["walk", "run"] and cases.channels == 2
    assert cases.series[0].tolist() == [[0, 1], [9, 10]]


MALFORMED_TS = [
    ("@problemName T\n@bogus 1\n", 2, "unknown header"),
    ("@classLabel true a b\n1,2,3:a\n", 2, "expected a header line"),
    ("@problemName T\n@data\n1,2:a\n", 2, "@data before @classLabel"),
    (HEADER + "1,2,3:c\n", 7, "label 'c' is not in @classLabel"),
    (HEADER + "1,2,3\n", 7, "no ':label'"),
    (HEADER + "1,x,3:a\n", 7, "'x' is not a number"),
    (HEADER + "1,2:a\n1,2:3,4:b\n", 8, "2 channels, expected 1"),
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:3:a\n", 4, "different lengths"),
    ("@missing false\n@classLabel true a\n@data\n1,?:a\n", 4, "@missing false"),
    ("@equalLength true\n@classLabel true a\n@data\n1,2:a\n1,2,3:a\n", 5, "@equalLength is true"),
    ("@classLabel true a\n", None, "no @data line"),
    ("@classLabel true a\n@data\n", None, "no cases after @data"),
    ("@dimensions two\n", 1, "positive whole number"),
]


@pytest.mark.parametrize(("text", "line", "problem"), MALFORMED_TS)
def test_malformed_ts_names_file_line_and_problem(tmp_path, text, line, problem):
    path = tmp_path / "bad.ts"
    path.write_text(text)
    where = f"{path}:{line}: " if line else f"{path}: "
    with pytest.raises(UserError) as error:
        read_cases(path)
    message = str(error.value)
    assert message.startswith(where) and problem in message and "\n" not in message


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        ("bad.tsv", "1\t0.5\n2\tabc\n", 2, "'abc' is not a number"),
        ("bad.tsv", "1\t0.5\n\n3\n", 3, "a label and at least one value"),
        ("bad.txt", "1 NaN NaN\n", 1, "every value is missing"),
        ("bad.csv", "label,t0,t1\na,1,2\nb,1,oops\n", 3, "'oops' is not a number"),
        ("bad.csv", "label,t0,t1\na,1,2\n,1,2\n", 3, "no class label"),
    ],
)
def test_malformed_ucr_and_csv_files(tmp_path, name, text, line, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError, match=f"{path}:{line}: .*{problem}"):
        read_cases(path)


def test_csv_long_case_with_two_labels_and_missing_columns(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,label,x\nA,walk,1\nA,run,2\n")
    with pytest.raises(UserError, match=r"long.csv:2: case 'A' has several labels"):
        read_cases(path, case_column="id")
    with pytest.raises(UserError, match="has no column 'case'"):
        read_cases(path, case_column="case")


def test_fill_scale_pad_and_split():
    filled = fill_missing([np.array([[np.nan, 1.0, np.nan, 3.0, np.nan]])])[0]
    assert filled.tolist() == [[1.0, 1.0, 2.0, 3.0, 3.0]]
    series, labels = make_cases(8, channels=2, unequal=True)
    batch = padded(series, 40)
    assert batch.shape == (8, 40, 2)
    for case, row in zip(series, batch, strict=True):  # never cut, NaN after the end
        np.testing.assert_allclose(row[: case.shape[1]].T, case, rtol=1e-6)
        assert np.isnan(row[case.shape[1] :]).all()
    from convseq.data.case_files import Cases

    cases = Cases(series, labels, ["up", "down"])
    assert Scaling.fit("auto", cases).how == "channel"
    scaled = Scaling.fit("series", cases).apply(series)
    assert abs(scaled[0].mean()) < 1e-9 and abs(scaled[0][0].std() - 1) < 1e-9
    train, val = stratified_split(np.array([0] * 6 + [1] * 4), 0.25, seed=0)
    assert len(val) == 3 and not set(train) & set(val) and len(train) + len(val) == 10
