"""Whole-file writes: a reader sees the old file or the new one, never part of either.

Every file the project writes for someone else to read (tables, releases, records, the data
cache, log parts) goes through `atomic_write`. Locally it writes a temporary file in the same
folder and renames it over the target; the temporary file is removed if the write fails. An
object store has no rename, but a single PUT becomes visible at once, so the bytes are built in
memory and put in one go.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd

Location = Path | str  # a local Path, or a URI such as s3://bucket/key


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of a URI; s3:// goes to FEAST_S3_ENDPOINT_URL if set.

    The project's S3 service (MinIO, moto, AWS) is named once, for the feature store and every
    other object it writes; credentials stay with s3fs's own lookup (AWS_ACCESS_KEY_ID, a role).
    """
    import fsspec

    endpoint = os.environ.get("FEAST_S3_ENDPOINT_URL")
    s3 = uri.startswith("s3://")
    options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint and s3 else {}
    fs, path = fsspec.core.url_to_fs(uri, **options)
    fs.invalidate_cache()  # another process may have written since this one last listed
    return fs, path


def atomic_write(path: Location, write: Callable[[Any], object]) -> Location:
    """Replace `path` whole with what `write(target)` writes; return `path`.

    Args:
        path: A local file (its folder is created) or an object-store URI.
        write: Called once with the target to write to: a temporary file's name locally, a
            binary buffer for an object store. pandas' `to_parquet`/`to_csv` accept both.
    """
    if not isinstance(path, Path):
        buffer = io.BytesIO()
        write(buffer)
        fs, key = filesystem(path)
        fs.pipe_file(key, buffer.getvalue())
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _put(target: str | IO[bytes], data: bytes) -> None:
    if isinstance(target, str):
        Path(target).write_bytes(data)
    else:
        target.write(data)


def atomic_write_bytes(path: Location, data: bytes) -> Location:
    """Replace `path` whole with `data`."""
    return atomic_write(path, lambda target: _put(target, data))


def atomic_write_text(path: Location, text: str) -> Location:
    """Replace `path` whole with `text` (UTF-8)."""
    return atomic_write_bytes(path, text.encode())


def write_parquet_atomic(df: pd.DataFrame, path: Location) -> Location:
    """Replace `path` whole with `df` as Parquet (no index)."""
    return atomic_write(path, lambda target: df.to_parquet(target, index=False))


def write_csv_atomic(df: pd.DataFrame, path: Location) -> Location:
    """Replace `path` whole with `df` as CSV (no index)."""
    return atomic_write_bytes(path, df.to_csv(index=False).encode())
