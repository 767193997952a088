"""Monitoring steps of one served demand forecast: gather it, evaluate, record, gate."""

from steps.monitor_demand.evaluate_demand_window import evaluate_demand_window
from steps.monitor_demand.gate_demand_window import gate_demand_window
from steps.monitor_demand.gather_served_forecast import gather_served_forecast
from steps.monitor_demand.record_demand_window import record_demand_window

__all__ = [
    "evaluate_demand_window",
    "gate_demand_window",
    "gather_served_forecast",
    "record_demand_window",
]
