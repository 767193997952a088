"""Every pipeline YAML validates against configs/schema.py; typos fail with the file named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from configs.schema import PIPELINE_PARAMS, validate_config, validate_config_file
from retail_mlops.errors import DataError
from tests.conftest import PROJECT_ROOT

CONFIGS = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))


def test_every_pipeline_has_a_full_and_a_dev_config() -> None:
    names = {p.name for p in CONFIGS}
    for pipeline in PIPELINE_PARAMS:
        assert {f"{pipeline}.yaml", f"{pipeline}.dev.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_is_valid(path: Path) -> None:
    validate_config_file(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_step_keys_match_pipeline_steps(path: Path) -> None:
    import importlib

    name = path.name.split(".")[0]
    pipe = getattr(importlib.import_module(f"pipelines.{name}"), name)
    source = Path(importlib.import_module(f"pipelines.{name}").__file__ or "").read_text()
    for step_name in yaml.safe_load(path.read_text()).get("steps") or {}:
        invoked = f"{step_name}(" in source or f'id="{step_name}"' in source
        assert invoked, f"{path.name}: step {step_name} is not in {pipe.name}"


def test_typo_fails_with_path() -> None:
    raw = yaml.safe_load((PROJECT_ROOT / "configs" / "churn_training.yaml").read_text())
    raw["steps"]["train_churn_model"]["parameters"]["max_dept"] = 3
    with pytest.raises(DataError, match=r"cfg\.yaml: max_dept"):
        validate_config(raw, "churn_training", "cfg.yaml")


def test_secret_like_values_are_not_in_yaml() -> None:
    # A secret-like key may only hold a reference: ${ENV_VAR} or a ZenML secret {{name.key}}.
    reference = re.compile(r'^\s*"?(\$\{[A-Z0-9_]+\}|\{\{[\w.]+\}\})"?\s*(#.*)?$')
    for path in CONFIGS + sorted((PROJECT_ROOT / "configs" / "stacks").glob("*.yaml")):
        for line in path.read_text().splitlines():
            key, sep, value = line.partition(":")
            if line.lstrip().startswith("#") or not sep:
                continue
            if any(w in key.lower() for w in ("password", "secret", "token")) and value.strip():
                assert reference.match(value), f"{path.name} holds a literal secret: {line!r}"
