"""Unit tests for retail_mlops/io.py: whole-file writes, locally and to an object store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retail_mlops.io import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    filesystem,
    write_csv_atomic,
    write_parquet_atomic,
)


def _predictions(run_id: str, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"{run_id}-{i}" for i in range(n)], "score": [0.1 * i for i in range(n)]}
    )


# --- write_parquet_atomic ---------------------------------------------------------------------


def test_write_parquet_atomic_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "nested" / "predictions.parquet"
    df = _predictions("r1", 4)
    assert write_parquet_atomic(df, target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["predictions.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(target), df, check_dtype=False)


def test_write_parquet_atomic_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "predictions.parquet"
    write_parquet_atomic(_predictions("r1", 4), target)
    second = _predictions("r2", 2)
    write_parquet_atomic(second, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(target), second, check_dtype=False)


def test_write_parquet_atomic_failure_keeps_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "predictions.parquet"
    first = _predictions("r1", 3)
    write_parquet_atomic(first, target)
    unwritable = pd.DataFrame({"x": [object(), object()]})  # pyarrow cannot serialise these
    with pytest.raises(Exception, match=r"."):
        write_parquet_atomic(unwritable, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(target), first, check_dtype=False)


def test_bytes_text_and_csv_writes_leave_only_the_target(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "b.json", '{"k": 1}')
    write_csv_atomic(pd.DataFrame({"x": [1, 2]}), tmp_path / "c.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.json", "c.csv"]
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.json").read_text() == '{"k": 1}'
    assert (tmp_path / "c.csv").read_text().splitlines() == ["x", "1", "2"]


def test_a_failing_writer_removes_its_temporary_file(tmp_path: Path) -> None:
    def half_then_fail(target: str) -> None:
        Path(target).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "t.bin", half_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_object_store_uri_is_written_in_one_put() -> None:
    uri = "memory://retail-mlops-io-test/tables/t.parquet"
    df = pd.DataFrame({"x": [1.5, 2.5]})
    assert write_parquet_atomic(df, uri) == uri
    fs, key = filesystem(uri)
    assert fs.ls(key.rsplit("/", 1)[0], detail=False) == [key]
    with fs.open(key, "rb") as fh:
        pd.testing.assert_frame_equal(pd.read_parquet(fh), df)
    fs.rm(key)
