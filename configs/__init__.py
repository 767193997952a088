"""Pipeline configs (one YAML per pipeline), their schema, and stack definitions."""
