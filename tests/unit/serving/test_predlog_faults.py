"""The predictions log when its folder cannot be written: rows wait, are counted, none is lost.

The fault is real: the log's folder path is taken by a file (what a full or read-only disk
does to a writer, an OSError on every write, and it works as root too, where permissions
would not stop the write).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retail_mlops.features.customer import FEATURE_COLUMNS
from retail_mlops.serving.predlog import LogWrite, PredictionLog, read_log

STAMP = datetime(2011, 8, 16, 12, 0)


def _rows(prefix: str, n: int) -> list[tuple[Any, ...]]:
    return [
        (f"{prefix}{i}", STAMP, "predict", str(i), "champion", 1, 0.5, True, None) for i in range(n)
    ]


def _features(n: int, start: float = 0.0) -> np.ndarray:
    return np.arange(start, start + n * len(FEATURE_COLUMNS), dtype=float).reshape(
        n, len(FEATURE_COLUMNS)
    )


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A log folder path that a file occupies: every write to it fails."""
    folder = tmp_path / "log"
    folder.write_text("not a folder")
    return folder


def test_rows_wait_while_the_folder_fails_and_are_written_when_it_is_back(blocked: Path) -> None:
    writes: list[LogWrite] = []
    log = PredictionLog(blocked, features=FEATURE_COLUMNS, on_write=writes.append)
    log.append(_rows("a", 3), _features(3))
    assert log.flush() is None
    log.append(_rows("b", 2), _features(2, start=1000.0))
    assert log.flush() is None
    assert log.pending_rows == 5
    assert [(w.written, w.pending, w.dropped) for w in writes] == [(0, 3, 0), (0, 5, 0)]
    assert all(w.error and "Error" in w.error for w in writes)

    blocked.unlink()  # the disk is back
    part = log.flush()
    assert part is not None
    assert log.pending_rows == 0
    assert (writes[-1].written, writes[-1].pending, writes[-1].error) == (5, 0, None)
    frame = read_log(blocked).set_index("request_id").sort_index()
    assert list(frame.index) == ["a0", "a1", "a2", "b0", "b1"]
    np.testing.assert_array_equal(
        frame[FEATURE_COLUMNS].to_numpy(), np.concatenate([_features(3), _features(2, 1000.0)])
    )


def test_past_the_limit_the_oldest_rows_are_given_up_and_counted(blocked: Path) -> None:
    writes: list[LogWrite] = []
    log = PredictionLog(blocked, max_pending_rows=4, on_write=writes.append)
    log.append(_rows("a", 3))
    log.flush()
    log.append(_rows("b", 3))
    log.flush()
    assert log.pending_rows == 4
    assert writes[-1].dropped == 2
    blocked.unlink()
    log.flush()
    assert sorted(read_log(blocked)["request_id"]) == ["a2", "b0", "b1", "b2"]
    assert sum(w.dropped for w in writes) + 4 == 6  # every row is written or counted


def test_rows_still_unwritten_at_shutdown_are_saved_elsewhere(
    blocked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import pandas as pd

    rescue_dir = tmp_path / "tmp"
    rescue_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(rescue_dir))
    log = PredictionLog(blocked)
    log.append(_rows("c", 4))
    rescue = log.close()
    assert rescue is not None
    assert rescue.parent == rescue_dir
    assert sorted(pd.read_parquet(rescue)["request_id"]) == ["c0", "c1", "c2", "c3"]


def test_a_failing_metrics_hook_does_not_stop_the_log(tmp_path: Path) -> None:
    def broken(write: LogWrite) -> None:
        raise RuntimeError("metrics backend down")

    log = PredictionLog(tmp_path, on_write=broken)
    log.append(_rows("d", 2))
    assert log.flush() is not None
    assert len(read_log(tmp_path)) == 2
