"""Reading a settings file: YAML in, one line naming the file and the key when it is wrong.

The pipeline configs (`configs/schema.py`) and the library's own files (a forecast-file config)
share these, so every config error reads the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from retail_mlops.errors import DataError


class Strict(BaseModel):
    """A settings model that refuses unknown keys (a typo fails instead of being ignored)."""

    model_config = ConfigDict(extra="forbid")


def schema_error(origin: str, exc: ValidationError) -> DataError:
    """One line naming the file, the setting's dotted path and the first problem."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return DataError(f"{origin}: {where}: {err['msg']}")


def load_yaml_file(path: Path) -> Any:
    """The YAML document of a file (empty file: {}); the caller's schema checks its shape.

    Raises:
        DataError: If the file is missing or not YAML.
    """
    if not path.exists():
        raise DataError(f"config file not found: {path}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
