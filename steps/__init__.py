"""ZenML steps of the retail pipelines: one thin @step per module, grouped by stage.

The logic they call is the framework-free library `retail_mlops`; `steps.client` holds what
the steps and the CLI ask of ZenML's client.
"""
