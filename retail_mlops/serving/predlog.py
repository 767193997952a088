"""The predictions log: every score a service computes, answered or shadow, as Parquet parts.

A request only appends a tuple to an in-memory buffer (microseconds); a background thread
writes the buffer out as a new Parquet part every few seconds or rows, and on shutdown.
Each part is written to a temporary name and renamed, so a reader never sees half a file,
and parts are never rewritten, so two server workers can share one folder.

A folder that cannot be written (gone, read-only, full) never fails a request or loses a row
silently: the rows that could not be written stay in memory and go into the next part that
can be written, up to `max_pending_rows`; past that the oldest are given up, counted and
logged. `on_write` reports every write and failure (the service turns them into metrics);
rows still unwritten at shutdown go to a file in the system's temporary folder, whose path
is logged.

A log made with `features` (the churn service passes its model's feature list) also records,
per row, the feature values the row was scored on: one float64 column per feature, after
`COLUMNS`, NaN where a value was missing. The request hands them over as one matrix per
`append` (the array it scored), so the per-row Python work stays one tuple. Parts written
before features were logged have no such columns; `read_log` reads a mix, the older rows
with NaN in them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retail_mlops.io import write_parquet_atomic

logger = logging.getLogger(__name__)
MAX_PENDING_ROWS = 1_000_000  # rows held in memory while the folder cannot be written
COLUMNS = [
    "request_id",
    "timestamp",
    "endpoint",
    "entity_id",
    "variant",
    "model_version",
    "score",
    "served",
    "as_of",
]


def now_utc() -> datetime:
    """Naive UTC now (Parquet and DuckDB compare naive timestamps)."""
    return datetime.now(UTC).replace(tzinfo=None)


class LogWrite:
    """What one flush did: rows written, rows still waiting, rows given up, the error if any."""

    __slots__ = ("dropped", "error", "pending", "written")

    def __init__(self, written: int, pending: int, dropped: int, error: str | None) -> None:
        self.written = written
        self.pending = pending
        self.dropped = dropped
        self.error = error


class PredictionLog:
    """Buffered, append-only log of predictions in `folder`, with `features` per row if named."""

    def __init__(
        self,
        folder: Path,
        flush_rows: int = 20_000,
        flush_seconds: float = 2.0,
        features: Sequence[str] = (),
        max_pending_rows: int = MAX_PENDING_ROWS,
        on_write: Callable[[LogWrite], None] | None = None,
    ):
        self.folder = folder
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.features = list(features)
        self.max_pending_rows = max_pending_rows
        self.on_write = on_write
        self._pending: list[pd.DataFrame] = []  # built parts that could not be written yet
        self._failing = False
        clash = sorted(set(self.features) & set(COLUMNS))
        if clash or len(set(self.features)) != len(self.features):
            raise ValueError(f"feature names must be unique and not log columns: {clash}")
        self._rows: list[tuple[Any, ...]] = []
        # one block per append: its row count and feature matrix (None: appended without)
        self._blocks: list[tuple[int, np.ndarray | None]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parts = 0

    def append(self, rows: list[tuple[Any, ...]], features: np.ndarray | None = None) -> None:
        """Add rows (in COLUMNS order); wakes the writer when the buffer is full.

        Args:
            rows: One tuple per logged prediction.
            features: The values each row was scored on, shape (len(rows), len(self.features)),
                in `self.features` order (NaN = missing); None logs NaN for every feature.

        Raises:
            ValueError: If `features` does not have that shape.
        """
        if features is not None and features.shape != (len(rows), len(self.features)):
            raise ValueError(
                f"features of shape {features.shape} for {len(rows)} row(s) of "
                f"{len(self.features)} feature(s)"
            )
        with self._lock:
            self._rows.extend(rows)
            if self.features:
                self._blocks.append((len(rows), features))
            full = len(self._rows) >= self.flush_rows
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prediction-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> Path | None:
        """Write what is buffered, and what earlier flushes could not, as one new part.

        Returns:
            The part's path; None when there was nothing to write or it could not be written
            (the rows then wait for the next flush).
        """
        with self._lock:
            rows, self._rows = self._rows, []
            blocks, self._blocks = self._blocks, []
            self._parts += 1
            n = self._parts
        frames = self._pending + ([self._frame(rows, blocks)] if rows else [])
        self._pending = []
        if not frames:
            return None
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.folder / f"part-{stamp}-{os.getpid()}-{n:06d}-{uuid.uuid4().hex[:6]}.parquet"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_parquet_atomic(frame, path)  # readers list part-*.parquet: never a half part
        except OSError as exc:
            self._defer(frame, exc)
            return None
        if self._failing:
            logger.warning(
                "predictions log %s writable again: %d rows written", self.folder, len(frame)
            )
            self._failing = False
        self._report(LogWrite(len(frame), 0, 0, None))
        return path

    def _defer(self, frame: pd.DataFrame, exc: OSError) -> None:
        """Keep the rows for the next flush; give up the oldest past `max_pending_rows`."""
        dropped = max(len(frame) - self.max_pending_rows, 0)
        if dropped:
            logger.error(
                "predictions log %s: %d rows given up (more than %d waiting): %s",
                self.folder,
                dropped,
                self.max_pending_rows,
                exc,
            )
            frame = frame.iloc[dropped:].reset_index(drop=True)
        self._pending = [frame]
        if not self._failing:
            logger.warning(
                "predictions log %s cannot be written (%s): %d rows wait for the next write",
                self.folder,
                exc,
                len(frame),
            )
            self._failing = True
        self._report(LogWrite(0, len(frame), dropped, f"{type(exc).__name__}: {exc}"))

    def _report(self, write: LogWrite) -> None:
        if self.on_write is not None:
            try:
                self.on_write(write)
            except Exception:  # a metrics hook must never stop the writer
                logger.exception("predictions log: on_write hook failed")

    @property
    def pending_rows(self) -> int:
        """Rows that a flush could not write yet."""
        return sum(len(f) for f in self._pending)

    def _frame(
        self, rows: list[tuple[Any, ...]], blocks: list[tuple[int, np.ndarray | None]]
    ) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
        if self.features:
            width = len(self.features)
            values = np.concatenate(
                [np.full((k, width), np.nan) if f is None else f for k, f in blocks]
            )
            frame = pd.concat(
                [frame, pd.DataFrame(values.astype(np.float64, copy=False), columns=self.features)],
                axis=1,
            )
        return frame

    def close(self) -> Path | None:
        """Stop the writer and flush what is left.

        Returns:
            Where the rows that the folder still refused were saved instead (None if none).
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        if not self._pending:
            return None
        frame = pd.concat(self._pending, ignore_index=True)
        rescue = (
            Path(tempfile.gettempdir())
            / f"predictions-unwritten-{os.getpid()}-{uuid.uuid4().hex[:6]}.parquet"
        )
        write_parquet_atomic(frame, rescue)
        logger.error(
            "predictions log %s still cannot be written: its %d waiting rows are in %s",
            self.folder,
            len(frame),
            rescue,
        )
        self._pending = []
        return rescue


def read_log(folder: Path) -> pd.DataFrame:
    """Every logged prediction in `folder` (empty frame with the columns when there are none).

    Feature columns follow `COLUMNS` when some part has them; rows of parts without them
    (written before features were logged) hold NaN there.
    """
    parts = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    import pyarrow as pa
    import pyarrow.parquet as pq

    # One Arrow concat: a part whose `as_of` is all null has Arrow type null, which Arrow
    # promotes to the other parts' timestamp (pandas' concat of such frames is deprecated);
    # a part without the feature columns gets them as nulls (NaN in pandas).
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="default").to_pandas()
