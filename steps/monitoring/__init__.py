"""Monitoring steps."""

from steps.monitoring.build_drift_report import build_drift_report
from steps.monitoring.check_drift import check_drift

__all__ = ["build_drift_report", "check_drift"]
