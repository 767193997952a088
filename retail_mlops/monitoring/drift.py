"""Drift checks: an Evidently 0.7 data-drift report and a KS test on predictions.

Plain functions, so a step, a monitoring job and a test all call the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from retail_mlops.config import Params
from retail_mlops.errors import DataError


class DriftReportParams(Params):
    """How feature drift is measured."""

    method: str = Field(
        default="wasserstein", description="Evidently drift method (KS flags all at scale)"
    )
    threshold: float = Field(
        default=0.1, gt=0, description="Per-column drift threshold of the method"
    )
    max_reference_rows: int = Field(
        default=20_000, ge=100, description="Seeded reference sample size"
    )


class DriftGateParams(Params):
    """When drift fails the batch, and when it only warns."""

    max_drift_share: float = Field(
        default=0.5, ge=0, le=1, description="Largest share of drifted columns"
    )
    max_prediction_ks: float = Field(
        default=0.2, ge=0, le=1, description="Largest KS of the predictions"
    )
    fail_on_feature_drift: bool = False
    fail_on_prediction_drift: bool = True


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    method: str = "wasserstein",
    threshold: float = 0.1,
    max_reference_rows: int = 20_000,
    seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """Run Evidently's DataDriftPreset on `columns`; return the snapshot and a summary.

    Args:
        reference: Training-time features.
        current: Features being scored now.
        columns: Feature columns to compare.
        method: Evidently drift method, pinned (its default switches with sample size).
        threshold: The method's drift threshold per column.
        max_reference_rows: Reference rows sampled (seeded) to bound memory and time.
        seed: Sampling seed.

    Returns:
        The Evidently snapshot and {"drift_share", "drifted_columns", "n_columns", "columns"}.

    Raises:
        DataError: If a column is missing from either frame.
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{name} data lacks column(s): {', '.join(missing)}")
    ref = reference[columns]
    if len(ref) > max_reference_rows:
        ref = ref.sample(max_reference_rows, random_state=seed)
    report = Report([DataDriftPreset(method=method, threshold=threshold)], include_tests=True)
    snapshot = report.run(current_data=current[columns], reference_data=ref)
    return snapshot, summarize_snapshot(snapshot.dict(), columns)


def summarize_snapshot(snapshot: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """Pull the drifted-column count/share and per-column scores out of a snapshot dict."""
    summary: dict[str, Any] = {"n_columns": len(columns), "columns": {}}
    for metric in snapshot.get("metrics", []):
        cfg = metric.get("config", {})
        kind = cfg.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            summary["drifted_columns"] = int(metric["value"]["count"])
            summary["drift_share"] = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            summary["columns"][cfg["column"]] = {"score": float(metric["value"])}
    for test in snapshot.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        col = params.get("column")
        if col in summary["columns"]:
            summary["columns"][col]["drifted"] = test.get("status") == "FAIL"
    if "drift_share" not in summary:
        raise DataError("the drift report has no DriftedColumnsCount metric")
    return summary


def prediction_ks(reference: np.ndarray, current: np.ndarray) -> dict[str, float]:
    """Two-sample KS test between reference and current prediction distributions."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if len(ref) == 0 or len(cur) == 0:
        raise DataError("the prediction-drift test needs predictions on both sides")
    res = stats.ks_2samp(ref, cur)
    return {
        "ks_statistic": float(res.statistic),
        "ks_pvalue": float(res.pvalue),
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
    }


@dataclass
class GateResult:
    """What the drift gate decided and why, with the numbers."""

    failed: bool = False
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One line with every breach."""
        return "; ".join(self.failures + self.warnings) or "no drift beyond thresholds"


def drift_gate(
    drift: dict[str, Any],
    ks: dict[str, float],
    max_drift_share: float,
    max_prediction_ks: float,
    fail_on_feature_drift: bool,
    fail_on_prediction_drift: bool,
) -> GateResult:
    """Compare drift numbers with thresholds; a breach fails or warns per its switch."""
    gate = GateResult()
    checks = [
        (
            drift["drift_share"] > max_drift_share,
            fail_on_feature_drift,
            f"feature drift: {drift['drifted_columns']}/{drift['n_columns']} columns "
            f"({drift['drift_share']:.0%}) drifted, limit {max_drift_share:.0%}",
        ),
        (
            ks["ks_statistic"] > max_prediction_ks,
            fail_on_prediction_drift,
            f"prediction drift: KS statistic {ks['ks_statistic']:.3f} (p={ks['ks_pvalue']:.2g}) "
            f"above {max_prediction_ks:.3f}",
        ),
    ]
    for breached, fail, text in checks:
        if breached:
            (gate.failures if fail else gate.warnings).append(text)
    gate.failed = bool(gate.failures)
    return gate
