"""Retention of the predictions log: one Parquet file per day, old days deleted, no row lost.

The services write a new part every few seconds (`retail_mlops.serving.predlog`), so a busy
log holds tens of thousands of small files a day. `compact_log` merges every part into one
file per UTC day of the rows' `timestamp` and deletes the days older than `keep_days`.
A day file is named `part-day-YYYYMMDD.parquet`, inside the writer's `part-*.parquet` pattern,
so `read_log` and everything built on it read compacted and fresh rows alike; the writer is
untouched and keeps adding parts while a compaction runs (those wait for the next one).

Never losing a row, step by step:

1. every listed file is read; one that cannot be (corrupt, wrong columns, rows without a
   timestamp) is moved to `quarantine/` beside a note of the reason, never deleted;
2. the new day files are written to a staging folder, read back and counted: rows before must
   equal rows kept plus rows of the expired days, or nothing changes;
3. a journal naming the staged files and the files they replace is written atomically: the
   commit point. Only then are the day files moved in and the merged parts deleted;
4. a compaction that dies after step 3 is finished by the next one (from the journal); one
   that dies before it left only a staging folder, which the next one discards.

Between the moves of step 3 a reader may briefly see a part and the day file holding its rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError, InfraError
from retail_mlops.io import atomic_write, atomic_write_text
from retail_mlops.serving.predlog import COLUMNS

DAY_PREFIX = "part-day-"
QUARANTINE = "quarantine"
_STAGING = ".compaction"
_JOURNAL = ".compaction.json"
_LOCK = ".compaction.lock"
_DAY_FILE = re.compile(r"^part-day-(\d{8})\.parquet$")


KEEP_DAYS = 180  # two 90-day outcome horizons: a served row stays until its outcome is judged


class ServedLogParams(Params):
    """Where the churn service's predictions log is (the steps that read or compact it)."""

    log_dir: str = Field(
        default="",
        description="The churn service's predictions log (default "
        "<state>/serving/predictions/churn)",
    )


class RetentionParams(ServedLogParams):
    """How long the churn service's predictions log keeps its rows (compacted per day)."""

    keep_days: int = Field(
        default=KEEP_DAYS,
        ge=0,
        description="Days of rows kept before the window's end; older days are deleted",
    )


@dataclass(frozen=True)
class QuarantinedPart:
    """A log file that could not be read as log rows, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class CompactionResult:
    """What one compaction did, with the row counts that prove nothing was lost."""

    parts_merged: int = 0
    days_written: list[date] = field(default_factory=list)
    days_deleted: list[date] = field(default_factory=list)
    rows_before: int = 0
    rows_kept: int = 0
    rows_expired: int = 0
    quarantined: list[QuarantinedPart] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """JSON-able counts, days and quarantined files (run metadata)."""
        return {
            "parts_merged": self.parts_merged,
            "days_written": [str(d) for d in self.days_written],
            "days_deleted": [str(d) for d in self.days_deleted],
            "rows_before": self.rows_before,
            "rows_kept": self.rows_kept,
            "rows_expired": self.rows_expired,
            "quarantined": [{"path": str(q.path), "reason": q.reason} for q in self.quarantined],
        }


def day_file(folder: Path, day: date) -> Path:
    """The compacted file of one day."""
    return folder / f"{DAY_PREFIX}{day:%Y%m%d}.parquet"


def _own_day(path: Path) -> date | None:
    """The day a compacted file holds (None for a writer's part)."""
    match = _DAY_FILE.match(path.name)
    return None if match is None else pd.Timestamp(match.group(1)).date()


def _read_part(path: Path) -> Any:
    """The part as an Arrow table of the log's columns, or the reason it is not one (a str).

    The log's `COLUMNS` come first; the columns after them (the feature values a churn part
    records) are kept as they are, so a day file holds what its parts held.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        return f"unreadable: {type(exc).__name__}: {exc}"
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        return f"lacks column(s): {', '.join(missing)}"
    if not pa.types.is_timestamp(table.schema.field("timestamp").type):
        return f"`timestamp` is {table.schema.field('timestamp').type}, not a timestamp"
    if table.column("timestamp").null_count:
        return f"{table.column('timestamp').null_count} row(s) without a timestamp"
    return table.select(COLUMNS + [c for c in table.column_names if c not in COLUMNS])


def _read_parts(paths: list[Path]) -> tuple[dict[Path, Any], list[QuarantinedPart]]:
    """Readable parts as Arrow tables that concatenate; the rest with their reasons."""
    import pyarrow as pa

    tables: dict[Path, Any] = {}
    bad: list[QuarantinedPart] = []
    schema = None
    for path in paths:
        table = _read_part(path)
        if isinstance(table, str):
            bad.append(QuarantinedPart(path, table))
            continue
        try:
            # a part whose `as_of` is all null has Arrow type null; unify_schemas promotes it,
            # as read_log's concat does, and refuses columns that really disagree; a part
            # without the feature columns (written before they were logged) unifies too,
            # its rows null there
            merged = (
                table.schema
                if schema is None
                else pa.unify_schemas([schema, table.schema], promote_options="default")
            )
        except (pa.ArrowException, ValueError) as exc:
            bad.append(QuarantinedPart(path, f"columns disagree with the other parts: {exc}"))
            continue
        schema = merged
        tables[path] = table
    return tables, bad


def read_log_safe(folder: Path) -> tuple[pd.DataFrame, list[QuarantinedPart]]:
    """Every readable row of the log in `folder`, and the files that could not be read.

    Unlike `read_log`, one bad file (a truncated copy, another program's Parquet) does not fail
    the whole read: it is listed with the reason and left where it is.

    Returns:
        The rows (the log's columns, then any feature columns, NaN for rows of parts
        without them; empty if none) and the unreadable files.
    """
    paths = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
    tables, bad = _read_parts(paths)
    if not tables:
        return pd.DataFrame(columns=COLUMNS), bad
    return _concat(list(tables.values())).to_pandas(), bad


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default")


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One compaction of a folder at a time (the writer needs no lock: it only adds parts)."""
    fd = os.open(folder / _LOCK, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InfraError(f"another compaction of {folder} is running") from exc
        yield
    finally:
        os.close(fd)


def _finish(folder: Path) -> None:
    """Apply a committed journal (idempotent), or discard an uncommitted staging folder."""
    journal = folder / _JOURNAL
    staging = folder / _STAGING
    if journal.exists():
        doc = json.loads(journal.read_text())
        for name in doc["staged"]:
            if (staging / name).exists():
                os.replace(staging / name, folder / name)
        for name in doc["delete"]:
            (folder / name).unlink(missing_ok=True)
        journal.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def _quarantine(folder: Path, bad: list[QuarantinedPart]) -> list[QuarantinedPart]:
    """Move unreadable files aside with a note of the reason; return where they went."""
    target = folder / QUARANTINE
    moved = []
    for part in bad:
        target.mkdir(exist_ok=True)
        dest = target / part.path.name
        os.replace(part.path, dest)
        atomic_write_text(target / f"{part.path.name}.reason.txt", part.reason + "\n")
        moved.append(QuarantinedPart(dest, part.reason))
    return moved


def compact_log(folder: Path, keep_days: int, today: date | str) -> CompactionResult:
    """Merge the log's parts into one file per day and delete the days older than `keep_days`.

    Args:
        folder: The predictions log folder.
        keep_days: Days kept before today: a day is deleted when `today - day > keep_days`
            (0 keeps today only).
        today: The date retention counts from (UTC, as the log's timestamps).

    Returns:
        What was merged, written and deleted, with the row counts.

    Raises:
        DataError: If keep_days is negative.
        InfraError: If another compaction holds the folder, or the staged files do not hold
            every row (nothing is changed then).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if keep_days < 0:
        raise DataError(f"keep_days must be 0 or more, got {keep_days}")
    if not folder.exists():
        return CompactionResult()
    oldest_kept = pd.Timestamp(today).date() - timedelta(days=keep_days)
    with _exclusive(folder):
        _finish(folder)
        paths = sorted(folder.glob("part-*.parquet"))
        tables, bad = _read_parts(paths)
        quarantined = _quarantine(folder, bad)

        by_day: dict[date, list[Any]] = {}
        touched: set[date] = set()  # days whose file is (re)written; the others stay as they are
        for path, table in tables.items():
            own = _own_day(path)
            days = pc.cast(table.column("timestamp"), "date32")
            for day in pc.unique(days).to_pylist():
                by_day.setdefault(day, []).append(table.filter(pc.equal(days, day)))
                if day != own:  # a writer part's rows, or a day file holding another day's
                    touched.update({day} if own is None else {day, own})
        rows_before = sum(t.num_rows for t in tables.values())
        expired = sorted(d for d in by_day if d < oldest_kept)
        rows_expired = sum(t.num_rows for d in expired for t in by_day[d])
        kept = {d for d in by_day if d >= oldest_kept}
        written = sorted(touched & kept)
        untouched = kept - touched  # such a day's rows all come from its own file

        staging = folder / _STAGING
        staging.mkdir()
        for day in written:
            rows = _concat(by_day[day]).sort_by("timestamp")
            atomic_write(staging / day_file(folder, day).name, partial(pq.write_table, rows))
        rows_kept = sum(
            pq.read_metadata(staging / day_file(folder, d).name).num_rows for d in written
        )
        rows_kept += sum(t.num_rows for d in untouched for t in by_day[d])
        if rows_kept + rows_expired != rows_before:
            shutil.rmtree(staging)
            raise InfraError(
                f"compaction of {folder} would keep {rows_kept} + expire {rows_expired} rows of "
                f"{rows_before}: nothing changed"
            )

        # every writer part goes, and every day file that is neither kept as it is nor
        # replaced in place by its rewrite (an expired day's)
        stays = set(written) | untouched
        consumed = [p for p in tables if _own_day(p) is None]
        delete = [p.name for p in tables if _own_day(p) is None or _own_day(p) not in stays]
        journal = {"staged": [day_file(folder, d).name for d in written], "delete": delete}
        atomic_write_text(folder / _JOURNAL, json.dumps(journal))  # the commit point
        _finish(folder)
    return CompactionResult(
        parts_merged=len(consumed),
        days_written=written,
        days_deleted=expired,
        rows_before=rows_before,
        rows_kept=rows_kept,
        rows_expired=rows_expired,
        quarantined=quarantined,
    )
