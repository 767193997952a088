"""ZenML steps of the retail pipelines; the logic sits in plain modules beside each step."""
