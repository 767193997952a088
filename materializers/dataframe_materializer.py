"""Store pandas DataFrames as zstd Parquet, with a cheap column summary for the dashboard.

ZenML's built-in pandas materializer writes gzip Parquet and, per artifact, runs `describe()`
for the visualization and mean/std/min/max for the metadata: on the 1M-line transaction frames
that is seconds per run, gzip alone 3x slower to write than zstd at about the same size. This
one converts the frame to Arrow once and derives everything from that table: the file (zstd,
readable by any Parquet reader), a describe-like summary and a sample for the dashboard, and
row, column, dtype and null counts as metadata.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from zenml.artifact_stores.base_artifact_store import BaseArtifactStore
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

FILENAME = "df.parquet"
COMPRESSION = "zstd"
SUMMARY_FILENAME = "summary.csv"
SAMPLE_FILENAME = "sample.csv"
# The same knob ZenML's own pandas materializer reads for its sample visualization.
SAMPLE_ROWS_ENV = "ZENML_PANDAS_SAMPLE_ROWS"
DEFAULT_SAMPLE_ROWS = 10
SUMMARY_ROWS = ("count", "nulls", "unique", "top", "freq", "mean", "std", "min")
QUANTILES = (0.25, 0.5, 0.75)


def _column_summary(column: pa.ChunkedArray) -> dict[str, Any]:
    """describe()-like statistics of one Arrow column; what does not apply stays empty."""
    out: dict[str, Any] = {"count": len(column) - column.null_count, "nulls": column.null_count}
    kind = column.type
    if out["count"] == 0:
        return out
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        # pandas' describe: sample std, linear-interpolated quartiles
        out["mean"] = pc.mean(column).as_py()
        out["std"] = pc.stddev(column, ddof=1).as_py() if out["count"] > 1 else None
        out["min"] = pc.min(column).as_py()
        quartiles = pc.quantile(column, q=list(QUANTILES)).to_pylist()
        out |= {f"{q:.0%}": v for q, v in zip(QUANTILES, quartiles, strict=True)}
        out["max"] = pc.max(column).as_py()
    elif pa.types.is_temporal(kind):
        out["min"], out["max"] = str(pc.min(column).as_py()), str(pc.max(column).as_py())
    else:  # strings, booleans, categoricals: one hash pass gives unique, top and freq
        try:
            counts = pc.value_counts(column.drop_null())
        except pa.ArrowNotImplementedError:  # nested types: counts only
            return out
        if len(counts):
            top = pc.index(counts.field("counts"), pc.max(counts.field("counts"))).as_py()
            out["unique"] = len(counts)
            out["top"] = str(counts.field("values")[top].as_py())
            out["freq"] = counts.field("counts")[top].as_py()
    return out


def _data_columns(table: pa.Table) -> list[str]:
    """The table's columns less those pandas stored its (non-range) index in."""
    index = (table.schema.pandas_metadata or {}).get("index_columns", [])
    return [name for name in table.column_names if name not in index]


class DataFrameMaterializer(BaseMaterializer):
    """Save/load `pd.DataFrame` as one zstd Parquet file through the artifact store.

    The index and dtypes round-trip through pandas' Arrow metadata, as with `to_parquet`.
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (pd.DataFrame,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def __init__(self, uri: str, artifact_store: BaseArtifactStore | None = None) -> None:
        """Remember nothing yet; `save` keeps its Arrow table for the summary and metadata."""
        super().__init__(uri, artifact_store)
        self._frame: pd.DataFrame | None = None
        self._table: pa.Table | None = None

    def _arrow(self, data: pd.DataFrame) -> pa.Table:
        """The frame as Arrow, converted once per saved frame (the costly part for strings)."""
        if self._frame is not data or self._table is None:
            self._frame, self._table = data, pa.Table.from_pandas(data)
        return self._table

    def load(self, data_type: type[Any]) -> pd.DataFrame:
        """Read the Parquet file back into a frame with its index and dtypes."""
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "rb") as f:
            return pq.read_table(f).to_pandas()

    def save(self, data: pd.DataFrame) -> None:
        """Write the frame as zstd Parquet."""
        if not self.artifact_store.exists(self.uri):  # ZenML makes it; a direct call may not
            self.artifact_store.makedirs(self.uri)
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "wb") as f:
            pq.write_table(self._arrow(data), f, compression=COMPRESSION)

    def save_visualizations(self, data: pd.DataFrame) -> dict[str, VisualizationType]:
        """A describe()-like column summary (from Arrow, all columns) and the first rows."""
        table = self._arrow(data)
        summary = pd.DataFrame(
            {name: _column_summary(table.column(name)) for name in _data_columns(table)},
            index=[*SUMMARY_ROWS, *(f"{q:.0%}" for q in QUANTILES), "max"],
        )
        summary_uri = os.path.join(self.uri, SUMMARY_FILENAME).replace("\\", "/")
        with self.artifact_store.open(summary_uri, "w") as f:
            summary.dropna(how="all").to_csv(f)
        sample_uri = os.path.join(self.uri, SAMPLE_FILENAME).replace("\\", "/")
        rows = int(os.environ.get(SAMPLE_ROWS_ENV, DEFAULT_SAMPLE_ROWS))
        with self.artifact_store.open(sample_uri, "w") as f:
            data.head(rows).to_csv(f)
        return {summary_uri: VisualizationType.CSV, sample_uri: VisualizationType.CSV}

    def extract_metadata(self, data: pd.DataFrame) -> dict[str, MetadataType]:
        """Rows, columns, each column's dtype, and null counts of the columns that have any."""
        table = self._arrow(data)
        nulls = {
            name: int(table.column(name).null_count)
            for name in _data_columns(table)
            if table.column(name).null_count
        }
        return {
            "n_rows": len(data),
            "n_cols": data.shape[1],
            "dtypes": {str(col): str(dtype) for col, dtype in data.dtypes.items()},
            "null_counts": nulls,
        }
