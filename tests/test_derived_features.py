"""Calendar and wind-vector columns: values at known times and directions, and the bookkeeping."""

import re

import numpy as np
import pytest
import torch

from convseq.config import JENA_WIND, SeriesShaping
from convseq.data.derived import CALENDAR_COLUMNS, calendar_features, derive, wind_vectors
from convseq.data.series import Series
from convseq.errors import UserError
from convseq.models.forecast import Anchored

WIND = ["wv (m/s)", "max. wv (m/s)", "wd (deg)"]


def times(*texts):
    return np.array(texts, dtype="datetime64[s]")


def test_time_of_day_is_a_sine_and_cosine_of_the_hour():
    day = calendar_features(times("2009-01-01T00:00", "2009-01-01T06:00", "2009-01-01T12:00"))
    assert day[:, 0] == pytest.approx([0.0, 1.0, 0.0], abs=1e-12)  # sin
    assert day[:, 1] == pytest.approx([1.0, 0.0, -1.0], abs=1e-12)  # cos
    # 18:00 is a quarter turn before midnight, and midnight wraps back to 00:00
    late = calendar_features(times("2012-03-05T18:00", "2012-03-06T00:00"))
    assert late[:, :2] == pytest.approx(np.array([[-1.0, 0.0], [0.0, 1.0]]), abs=1e-12)


def test_day_of_year_wraps_at_new_year_and_halves_in_leap_years():
    year = calendar_features(
        times("2009-01-01T00:00", "2016-07-02T00:00", "2017-07-02T12:00", "2017-01-01T00:00")
    )
    # 1 January 00:00 is phase 0, whatever the year
    assert year[[0, 3], 2:] == pytest.approx(np.array([[0.0, 1.0], [0.0, 1.0]]), abs=1e-12)
    # 2016 is a leap year: 2 July 00:00 is day 183 of 366, exactly half way
    assert year[1, 2:] == pytest.approx([0.0, -1.0], abs=1e-12)
    # 2017 has 365 days: half way is 2 July 12:00
    assert year[2, 2:] == pytest.approx([0.0, -1.0], abs=1e-12)


def test_wind_components_of_known_directions_and_error_speeds_clipped():
    speeds = np.array([[2.0, 4.0], [3.0, -9999.0], [1.5, 2.0], [-9999.0, -9999.0]])
    degrees = np.array([0.0, 90.0, 180.0, 270.0])
    vectors, clipped = wind_vectors(speeds, degrees)
    # columns: speed 1 (x, y), speed 2 (x, y)
    expected = [
        [2.0, 0.0, 4.0, 0.0],
        [0.0, 3.0, 0.0, 0.0],  # -9999 m/s counts as calm
        [-1.5, 0.0, -2.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
    assert vectors == pytest.approx(np.array(expected), abs=1e-12)
    assert clipped == 3
    # the length of each vector is the (clipped) speed
    assert np.hypot(vectors[:, 0], vectors[:, 1]) == pytest.approx([2.0, 3.0, 1.5, 0.0])


def jena_like(rows=6):
    columns = ["T (degC)", "wv (m/s)", "max. wv (m/s)", "wd (deg)"]
    values = np.column_stack(
        [np.arange(rows, dtype=float), np.full(rows, 2.0), np.full(rows, 3.0), np.full(rows, 90.0)]
    )
    values[2, 1] = -9999.0
    stamps = np.arange(rows) * np.timedelta64(6, "h") + np.datetime64("2009-01-01T00:00", "s")
    return Series(stamps, values, columns, "jena.csv")


def test_derive_replaces_wind_columns_and_appends_calendar_columns():
    series, record = derive(jena_like(), calendar=True, wind=WIND, target="T (degC)")
    wind = ["wv x (m/s)", "wv y (m/s)", "max. wv x (m/s)", "max. wv y (m/s)"]
    assert series.columns == ["T (degC)", *wind, *CALENDAR_COLUMNS]
    assert record == {
        "calendar": list(CALENDAR_COLUMNS),
        "wind": {
            "speeds": ["wv (m/s)", "max. wv (m/s)"],
            "direction": "wd (deg)",
            "columns": wind,
            "clipped": 1,
        },
    }
    assert series.values[:, 0] == pytest.approx(np.arange(6))  # the target is untouched
    assert series.values[:, 2] == pytest.approx([2, 2, 0, 2, 2, 2])  # wv y; row 2 was -9999
    assert series.values[1, 5:7] == pytest.approx([1.0, 0.0], abs=1e-12)  # 06:00
    quarter_day = 2 * np.pi * 0.25 / 365  # 6 h into the year 2009, in radians
    assert series.values[1, 7:9] == pytest.approx([np.sin(quarter_day), np.cos(quarter_day)])


def test_derive_without_options_changes_nothing():
    original = jena_like()
    series, record = derive(original, target="T (degC)")
    assert series.columns == original.columns and np.array_equal(series.values, original.values)
    assert record == {"calendar": [], "wind": None}


@pytest.mark.parametrize(
    "wind, target, message",
    [
        (["wv (m/s)", "wdd"], "T (degC)", "no column 'wdd' (did you mean 'wd (deg)'?)"),
        (WIND, "wv (m/s)", "is one of the wind columns"),
        (WIND, "wd (deg)", "is one of the wind columns"),
    ],
)
def test_bad_wind_columns_are_user_errors(wind, target, message):
    with pytest.raises(UserError, match=re.escape(message)):
        derive(jena_like(), wind=wind, target=target)


def test_wind_columns_are_speeds_then_the_direction():
    # the command line's comma-separated text becomes the list, the direction last
    shaping = SeriesShaping(wind_vector=True, wind_columns=" a , b ,dir ")
    assert shaping.wind_columns == ["a", "b", "dir"]
    assert SeriesShaping().wind_columns == JENA_WIND == WIND
    with pytest.raises(UserError, match="one or more speed columns and then the direction"):
        SeriesShaping(wind_vector=True, wind_columns=["wd (deg)"])
    # without --wind-vector the columns would not be used: changing them is refused
    with pytest.raises(UserError, match="--wind-columns has no effect without --wind-vector"):
        SeriesShaping(wind_columns=["wd (deg)"])


def test_residual_anchor_leaves_absolute_columns_alone():
    x = torch.arange(24, dtype=torch.float32).reshape(1, 4, 6)
    relative = Anchored(True, target_index=0, absolute_features=[4, 5]).relative(x)
    assert torch.equal(relative[..., :4], x[..., :4] - x[:, -1:, :4])
    assert torch.equal(relative[..., 4:], x[..., 4:])
    assert torch.equal(x[0, -1], torch.arange(18, 24, dtype=torch.float32))  # input untouched
