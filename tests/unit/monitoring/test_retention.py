"""Unit tests for retail_mlops/monitoring/retention.py: daily compaction, expiry, quarantine.

The log is written by the services' own writer (`PredictionLog`), with timestamps set per row
so the parts span several days and one part crosses midnight.
"""

from __future__ import annotations

import fcntl
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from retail_mlops.errors import DataError, InfraError
from retail_mlops.monitoring import retention
from retail_mlops.monitoring.retention import (
    QUARANTINE,
    compact_log,
    day_file,
    read_log_safe,
)
from retail_mlops.serving.predlog import PredictionLog, read_log

TODAY = date(2011, 3, 10)


def _rows(start: datetime, n: int, step: timedelta, tag: str) -> list[tuple[Any, ...]]:
    return [
        (
            f"{tag}-{i}",
            start + i * step,
            "predict",
            str(12000 + i),
            "champion" if i % 3 else "challenger",
            "3",
            (i % 10) / 10,
            bool(i % 2),
            None if i % 4 == 0 else datetime(2011, 3, 1),
        )
        for i in range(n)
    ]


def _write_log(folder: Path) -> None:
    """Five parts: two old days, a part across midnight of 8/9 March, today's rows."""
    log = PredictionLog(folder)
    batches = [
        _rows(datetime(2011, 2, 20, 10), 5, timedelta(minutes=1), "a"),  # expires
        _rows(datetime(2011, 2, 28, 9), 4, timedelta(minutes=5), "b"),  # the oldest day kept
        _rows(datetime(2011, 3, 8, 23, 50), 6, timedelta(minutes=4), "c"),  # crosses midnight
        _rows(datetime(2011, 3, 9, 12), 3, timedelta(minutes=1), "d"),
        _rows(datetime(2011, 3, 10, 8), 7, timedelta(seconds=30), "e"),
    ]
    for rows in batches:
        log.append(rows)
        log.flush()
    log.close()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["timestamp", "request_id"], ignore_index=True)


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "predictions"
    _write_log(folder)
    return folder


def test_compaction_keeps_every_row_and_removes_old_days(log_folder: Path) -> None:
    before = read_log(log_folder)
    assert len(list(log_folder.glob("part-*.parquet"))) == 5

    result = compact_log(log_folder, keep_days=10, today=TODAY)

    oldest = pd.Timestamp(TODAY - timedelta(days=10))
    assert result.days_deleted == [date(2011, 2, 20)]
    assert result.days_written == [date(2011, 2, 28)] + [date(2011, 3, d) for d in (8, 9, 10)]
    assert result.parts_merged == 5
    assert result.rows_before == len(before) == 25
    assert result.rows_expired == 5
    assert result.rows_kept == 20
    assert result.quarantined == []
    names = sorted(p.name for p in log_folder.glob("part-*.parquet"))
    assert names == [
        "part-day-20110228.parquet",
        "part-day-20110308.parquet",
        "part-day-20110309.parquet",
        "part-day-20110310.parquet",
    ]
    after = read_log(log_folder)  # the writer's reader sees the day files
    expected = before[before["timestamp"] >= oldest]
    pd.testing.assert_frame_equal(_sorted(after), _sorted(expected), check_dtype=False)
    midnight = pd.read_parquet(day_file(log_folder, date(2011, 3, 9)))
    assert len(midnight) == 3 + 3  # part c's last three rows fall after midnight
    assert not (log_folder / ".compaction").exists()
    assert not (log_folder / ".compaction.json").exists()


def test_compaction_is_idempotent_and_merges_new_parts_into_their_day(log_folder: Path) -> None:
    compact_log(log_folder, keep_days=10, today=TODAY)
    first = read_log(log_folder)
    again = compact_log(log_folder, keep_days=10, today=TODAY)
    assert again.days_written == []
    assert again.parts_merged == 0
    assert again.rows_kept == len(first)
    pd.testing.assert_frame_equal(_sorted(read_log(log_folder)), _sorted(first))

    log = PredictionLog(log_folder)
    log.append(_rows(datetime(2011, 3, 10, 18), 2, timedelta(minutes=1), "f"))
    log.close()
    third = compact_log(log_folder, keep_days=10, today=TODAY)
    assert third.days_written == [date(2011, 3, 10)]
    assert len(pd.read_parquet(day_file(log_folder, date(2011, 3, 10)))) == 9
    assert len(read_log(log_folder)) == len(first) + 2


def test_later_runs_expire_compacted_days(log_folder: Path) -> None:
    compact_log(log_folder, keep_days=10, today=TODAY)
    later = compact_log(log_folder, keep_days=1, today=TODAY)
    assert later.days_deleted == [date(2011, 2, 28), date(2011, 3, 8)]
    assert later.days_written == []
    assert sorted(p.name for p in log_folder.glob("part-*.parquet")) == [
        "part-day-20110309.parquet",
        "part-day-20110310.parquet",
    ]
    assert later.rows_kept == len(read_log(log_folder)) == 6 + 7


def test_an_unreadable_part_is_quarantined_with_its_reason(log_folder: Path) -> None:
    (log_folder / "part-20110309T000000-1-000001-abcdef.parquet").write_bytes(b"not parquet")
    pd.DataFrame({"request_id": ["x"]}).to_parquet(log_folder / "part-other.parquet")

    frame, bad = read_log_safe(log_folder)
    assert len(frame) == 25
    reasons = {p.path.name: p.reason for p in bad}
    assert reasons["part-20110309T000000-1-000001-abcdef.parquet"].startswith("unreadable: ")
    assert reasons["part-other.parquet"].startswith("lacks column(s): timestamp, endpoint")
    with pytest.raises(pa.ArrowInvalid, match="Parquet magic bytes not found"):
        read_log(log_folder)  # the plain reader fails on the whole folder

    result = compact_log(log_folder, keep_days=30, today=TODAY)
    assert result.rows_before == result.rows_kept == 25
    moved = {p.path.name: p for p in result.quarantined}
    assert set(moved) == set(reasons)
    for name, part in moved.items():
        assert part.path == log_folder / QUARANTINE / name
        assert part.path.exists()
        note = (log_folder / QUARANTINE / f"{name}.reason.txt").read_text().strip()
        assert note == reasons[name]
    assert len(read_log(log_folder)) == 25  # the folder reads again


class _Crash(Exception):
    """Stands for the process dying at a chosen point."""


def test_a_crash_after_the_commit_is_finished_by_the_next_run(
    log_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = read_log(log_folder)
    real_finish = retention._finish
    calls = []

    def crash_after_commit(folder: Path) -> None:
        calls.append(folder)
        if len(calls) == 2:  # the call that applies the journal just written
            raise _Crash("killed after the commit")
        real_finish(folder)

    monkeypatch.setattr(retention, "_finish", crash_after_commit)
    with pytest.raises(_Crash, match="killed after the commit"):
        compact_log(log_folder, keep_days=30, today=TODAY)
    assert (log_folder / ".compaction.json").exists()
    monkeypatch.setattr(retention, "_finish", real_finish)

    result = compact_log(log_folder, keep_days=30, today=TODAY)
    assert result.parts_merged == 0  # the journal already finished the merge
    after = read_log(log_folder)
    pd.testing.assert_frame_equal(_sorted(after), _sorted(before), check_dtype=False)


def test_a_crash_before_the_commit_changes_nothing(
    log_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(p.name for p in log_folder.iterdir())

    def fail(path: Path, text: str) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(retention, "atomic_write_text", fail)
    with pytest.raises(OSError, match="disk full"):
        compact_log(log_folder, keep_days=30, today=TODAY)
    monkeypatch.undo()
    assert (log_folder / ".compaction").exists()  # staged files, never committed
    result = compact_log(log_folder, keep_days=30, today=TODAY)
    assert result.rows_kept == result.rows_before == 25
    assert len(read_log(log_folder)) == 25
    assert len(before) == 5


def test_a_count_mismatch_changes_nothing(
    log_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(p.name for p in log_folder.iterdir())
    real = retention._concat
    monkeypatch.setattr(retention, "_concat", lambda tables: real(tables).slice(1))
    with pytest.raises(InfraError, match="nothing changed"):
        compact_log(log_folder, keep_days=30, today=TODAY)
    monkeypatch.undo()
    assert sorted(p.name for p in log_folder.iterdir() if p.name != ".compaction.lock") == before


def test_one_compaction_at_a_time(log_folder: Path) -> None:
    fd = os.open(log_folder / ".compaction.lock", os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(InfraError, match="another compaction"):
            compact_log(log_folder, keep_days=30, today=TODAY)
    finally:
        os.close(fd)


def test_arguments_and_an_absent_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="keep_days must be 0 or more"):
        compact_log(tmp_path, keep_days=-1, today=TODAY)
    assert compact_log(tmp_path / "absent", keep_days=3, today=TODAY).rows_before == 0
    frame, bad = read_log_safe(tmp_path / "absent")
    assert frame.empty
    assert bad == []


def test_a_part_whose_as_of_is_all_null_merges_with_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    log = PredictionLog(folder)
    log.append(_rows(datetime(2011, 3, 9, 8), 1, timedelta(minutes=1), "n"))  # as_of None
    log.flush()
    log.append(_rows(datetime(2011, 3, 9, 9), 3, timedelta(minutes=1), "m"))
    log.close()
    frame, bad = read_log_safe(folder)
    assert (len(frame), bad) == (4, [])
    result = compact_log(folder, keep_days=3, today=TODAY)
    assert (result.rows_kept, result.quarantined) == (4, [])
    day = pd.read_parquet(day_file(folder, date(2011, 3, 9)))
    assert day["as_of"].isna().tolist() == [True, True, False, False]  # n-0, m-0 have none
    assert str(day["as_of"].dtype).startswith("datetime64")
