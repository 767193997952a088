"""Demand forecasting steps, one per module (import them from their modules).

Unlike the other stage packages this one re-exports nothing: Prophet's worker processes
import the plain modules here (`_prophet`, ...) and must not pay for importing ZenML.
"""
