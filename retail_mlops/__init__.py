"""retail_mlops."""
