"""Monitoring steps of one churn window: gather its scores, evaluate, record, gate, compact."""

from steps.monitor_window.compact_predictions_log import compact_predictions_log
from steps.monitor_window.evaluate_window import evaluate_window
from steps.monitor_window.gate_window import gate_window
from steps.monitor_window.gather_window import gather_window
from steps.monitor_window.record_window import record_window

__all__ = [
    "compact_predictions_log",
    "evaluate_window",
    "gate_window",
    "gather_window",
    "record_window",
]
