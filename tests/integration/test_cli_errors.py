"""Bad input through the CLI: one readable line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SUBSET
from tests.integration.conftest import run_cli, write_config

pytestmark = [pytest.mark.integration]


def _assert_one_line_error(result: object, *needles: str) -> None:
    stderr = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr[-2000:]  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert "Traceback" not in result.stdout  # type: ignore[attr-defined]
    last = stderr.splitlines()[-1]
    assert last.startswith("error: ")
    for needle in needles:
        assert needle in last


def _subset(n: int = 2000) -> pd.DataFrame:
    with gzip.open(SUBSET, "rt") as fh:
        return pd.read_csv(fh, dtype=str, nrows=n)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    cfg = write_config(
        tmp_path, "churn_training.dev.yaml", **{"parameters.source.path": str(missing)}
    )
    _assert_one_line_error(
        run_cli("churn_training", "--config", str(cfg)), "not found", str(missing)
    )


def test_missing_column(tmp_path: Path) -> None:
    bad = tmp_path / "no_price.csv"
    _subset().drop(columns=["Price"]).to_csv(bad, index=False)
    cfg = write_config(tmp_path, "churn_training.dev.yaml", **{"parameters.source.path": str(bad)})
    _assert_one_line_error(
        run_cli("churn_training", "--config", str(cfg)), "missing column", "price"
    )


def test_wrong_types_and_empty_after_filtering(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_types.csv"
    _subset().assign(Quantity="lots").to_csv(wrong, index=False)
    cfg = write_config(
        tmp_path, "churn_training.dev.yaml", **{"parameters.source.path": str(wrong)}
    )
    _assert_one_line_error(
        run_cli("churn_training", "--config", str(cfg)), "quantity", "no parsable numbers"
    )

    cancelled = tmp_path / "all_cancelled.csv"
    df = _subset(200)
    df.assign(Invoice="C" + df["Invoice"].str.lstrip("C")).to_csv(cancelled, index=False)
    cfg = write_config(
        tmp_path, "churn_training.dev.yaml", **{"parameters.source.path": str(cancelled)}
    )
    _assert_one_line_error(
        run_cli("churn_training", "--config", str(cfg)), "no valid rows left", "cancelled_invoice"
    )


def test_bad_config_and_promote_unknown_version(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "churn_training.dev.yaml", **{"parameters.test_cutoff": "soon"})
    _assert_one_line_error(run_cli("churn_training", "--config", str(cfg)), "test_cutoff")
    _assert_one_line_error(run_cli("promote", "--version", "999"), "no version 999")


def test_help_lists_pipelines_and_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("churn_training", "churn_batch_inference", "promote", "rollback", "Examples"):
        assert word in result.stdout
