"""Unit tests for the feature columns of retail_mlops/serving/predlog.py's predictions log.

A log made with `features` writes one float64 column per feature after `COLUMNS`; parts
written without them (before features were logged) still read, alone or mixed with new ones,
through `read_log`, `read_log_safe` and a compaction into day files.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.features.customer import FEATURE_COLUMNS
from retail_mlops.monitoring.retention import compact_log, read_log_safe
from retail_mlops.serving.predlog import COLUMNS, PredictionLog, read_log

STAMP = datetime(2011, 8, 16, 12, 0)


def _rows(prefix: str, n: int) -> list[tuple[Any, ...]]:
    return [
        (f"{prefix}{i}", STAMP, "predict", str(i), "champion", 1, 0.5, True, None) for i in range(n)
    ]


def _features(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).normal(size=(n, len(FEATURE_COLUMNS)))
    values[0, 3] = np.nan  # a missing value stays missing
    return values


def _by_request(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("request_id").sort_index()


def test_features_are_logged_as_float64_columns_after_the_log_columns(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=60, features=FEATURE_COLUMNS)
    values = _features(3)
    log.append(_rows("a", 3), values)
    log.append(_rows("b", 2))  # appended without features: NaN for every one
    log.close()

    back = read_log(tmp_path)
    assert list(back.columns) == COLUMNS + FEATURE_COLUMNS
    assert (back[FEATURE_COLUMNS].dtypes == np.float64).all()
    frame = _by_request(back)
    np.testing.assert_array_equal(frame.loc[["a0", "a1", "a2"], FEATURE_COLUMNS], values)
    assert frame.loc[["b0", "b1"], FEATURE_COLUMNS].isna().all().all()


def test_append_refuses_features_of_the_wrong_shape(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, features=FEATURE_COLUMNS)
    with pytest.raises(ValueError, match="features of shape"):
        log.append(_rows("a", 3), _features(2))
    with pytest.raises(ValueError, match="not log columns"):
        PredictionLog(tmp_path, features=["score"])
    assert log.flush() is None  # nothing was buffered


def test_old_parts_without_features_read_with_new_ones(tmp_path: Path) -> None:
    old = PredictionLog(tmp_path, flush_seconds=60)  # the writer before features were logged
    old.append(_rows("old", 4))
    old.close()
    new = PredictionLog(tmp_path, flush_seconds=60, features=FEATURE_COLUMNS)
    values = _features(3, seed=1)
    new.append(_rows("new", 3), values)
    new.close()
    parts = sorted(tmp_path.glob("part-*.parquet"))
    assert len(parts) == 2

    plain = read_log(tmp_path)
    safe, bad = read_log_safe(tmp_path)
    assert bad == []
    for back in (plain, safe):
        assert list(back.columns) == COLUMNS + FEATURE_COLUMNS
        frame = _by_request(back)
        assert frame.loc[[f"old{i}" for i in range(4)], FEATURE_COLUMNS].isna().all().all()
        np.testing.assert_array_equal(frame.loc[["new0", "new1", "new2"], FEATURE_COLUMNS], values)
    pd.testing.assert_frame_equal(_by_request(plain), _by_request(safe))

    # compaction keeps the features: the day file holds what the parts held
    result = compact_log(tmp_path, keep_days=10_000, today="2011-08-17")
    assert result.parts_merged == 2
    assert [p.name for p in tmp_path.glob("part-*.parquet")] == ["part-day-20110816.parquet"]
    pd.testing.assert_frame_equal(_by_request(read_log(tmp_path)), _by_request(plain))


def test_a_log_of_old_parts_only_has_no_feature_columns(tmp_path: Path) -> None:
    old = PredictionLog(tmp_path)
    old.append(_rows("old", 2))
    old.close()
    assert list(read_log(tmp_path).columns) == COLUMNS
    assert list(read_log_safe(tmp_path)[0].columns) == COLUMNS
