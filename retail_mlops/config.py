"""Reading a settings file: YAML in, one line naming the file and the key when it is wrong.

The pipeline configs (`configs/schema.py`) and the library's own files (a forecast-file config)
share these, so every config error reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from retail_mlops.errors import DataError


class Strict(BaseModel):
    """A settings model that refuses unknown keys (a typo fails instead of being ignored)."""

    model_config = ConfigDict(extra="forbid")


class Params(Strict):
    """The tunable parameters of one step: names, types, bounds and defaults, in one place.

    The step's signature takes its defaults from an instance (`train_churn_model(...,
    max_depth: int = DEFAULTS.max_depth)`), the pipeline YAML may override them under
    `steps.<step>.parameters`, and `configs/schema.py` validates those overrides against the
    same model before a run. Frozen, so a default can never be changed by accident.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Self:
        """The parameters among `values` (a step's `locals()`), validated against the bounds."""
        return cls(**{k: values[k] for k in cls.model_fields if k in values})


class NoParams(Params):
    """A step with nothing to tune: any key under its `parameters:` is a mistake."""


def schema_error(origin: str, exc: ValidationError, prefix: str = "") -> DataError:
    """One line naming the file, the setting's dotted path and the first problem.

    `prefix` is where the validated mapping sits in the file (`steps.train_churn_model.
    parameters.`), so the path in the message is the one a user would edit.
    """
    err = exc.errors()[0]
    where = prefix + ".".join(str(p) for p in err["loc"])
    message = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
    return DataError(f"{origin}: {where}: {message}")


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
