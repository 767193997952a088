"""BentoML services, one folder each: service.py, bentofile.yaml, an example request."""
