"""Every pipeline YAML validates against configs/schema.py; typos fail with the file named."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.schema import (
    PIPELINE_PARAMS,
    STEP_PARAMS,
    load_config,
    run_config,
    step_model,
    validate_config,
    validate_config_file,
)
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


def _base(name: str = "churn_training") -> dict[str, Any]:
    return load_config(PROJECT_ROOT / "configs" / f"{name}.yaml")


def test_typo_fails_with_file_step_and_key() -> None:
    raw = _base()
    raw["steps"].setdefault("train_churn_model", {}).setdefault("parameters", {})["max_dept"] = 3
    with pytest.raises(DataError, match="max_dept") as info:
        validate_config(raw, "churn_training", "configs/churn_training.yaml")
    assert str(info.value) == (
        "configs/churn_training.yaml: steps.train_churn_model.parameters.max_dept: "
        "unknown parameter"
    )


@pytest.mark.parametrize(
    ("step", "key", "value", "message"),
    [
        ("train_churn_model", "max_depth", "deep", "valid integer"),
        ("train_churn_model", "learning_rate", 0, "greater than 0"),
        ("split_churn_dataset", "n_valid_cutoffs", 0, "greater than or equal to 1"),
        ("promote_churn_model", "min_gain", 2, "less than or equal to 1"),
        ("write_customer_features", "max_null_rate", 1.5, "less than or equal to 1"),
    ],
)
def test_wrong_type_or_range_names_the_step_and_key(
    step: str, key: str, value: Any, message: str
) -> None:
    name = "feature_materialization" if step.startswith("write_") else "churn_training"
    raw = _base(name)
    raw.setdefault("steps", {}).setdefault(step, {}).setdefault("parameters", {})[key] = value
    with pytest.raises(
        DataError, match=rf"^cfg\.yaml: steps\.{step}\.parameters\.{key}: .*{message}"
    ):
        validate_config(raw, name, "cfg.yaml")


def test_unknown_step_and_unknown_step_setting_fail() -> None:
    raw = _base()
    raw["steps"]["train_churn_modle"] = {"parameters": {"max_depth": 3}}
    with pytest.raises(DataError, match=r"^cfg\.yaml: steps\.train_churn_modle: unknown step$"):
        validate_config(raw, "churn_training", "cfg.yaml")
    raw = _base()
    raw["steps"]["train_churn_model"]["paramters"] = {"max_depth": 3}
    with pytest.raises(DataError, match=r"steps\.train_churn_model\.paramters: unknown step"):
        validate_config(raw, "churn_training", "cfg.yaml")


def test_pipeline_parameter_errors_name_the_parameters_block() -> None:
    raw = _base()
    raw["parameters"]["test_cutof"] = "2011-09-01"
    with pytest.raises(DataError, match=r"^cfg\.yaml: parameters\.test_cutof: unknown parameter$"):
        validate_config(raw, "churn_training", "cfg.yaml")


def _step_functions() -> dict[str, Any]:
    """Every @step of the project, by function name, from its one module per step."""
    found = {}
    for path in sorted((PROJECT_ROOT / "steps").rglob("*.py")):
        if path.name == "__init__.py" or path.name == "client.py":
            continue
        module = importlib.import_module(
            ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        )
        found[path.stem] = getattr(module, path.stem)
    return found


def test_every_step_has_a_parameter_model() -> None:
    assert set(_step_functions()) == set(STEP_PARAMS)


@pytest.mark.parametrize("name", sorted(STEP_PARAMS))
def test_step_defaults_come_from_its_model(name: str) -> None:
    """The signature's defaulted parameters are exactly the model's fields, with its defaults."""
    entry = _step_functions()[name].entrypoint
    signature = inspect.signature(entry)
    defaulted = {k: p.default for k, p in signature.parameters.items() if p.default is not p.empty}
    model = STEP_PARAMS[name]
    defaults = model().model_dump()
    assert defaulted == defaults


def test_variants_say_only_what_differs_from_their_base() -> None:
    def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for k, v in node.items():
                out.update(leaves(v, f"{prefix}{k}."))
            return out
        return {prefix[:-1]: node}

    for path in CONFIGS:
        if ".dev." not in path.name:
            continue
        own = yaml.safe_load(path.read_text())
        assert own.pop("extends") == path.name.replace(".dev", ""), path.name
        base = leaves(load_config(PROJECT_ROOT / "configs" / path.name.replace(".dev", "")))
        same = {k: v for k, v in leaves(own).items() if base.get(k, object()) == v}
        assert same == {}, f"{path.name} repeats its base: {sorted(same)}"


def test_bases_restate_no_step_default() -> None:
    for path in CONFIGS:
        for key, cfg in (load_config(path).get("steps") or {}).items():
            params = (cfg or {}).get("parameters") or {}
            defaults = step_model(key)().model_dump()  # type: ignore[misc]
            same = {k: v for k, v in params.items() if defaults.get(k) == v}
            assert same == {}, f"{path.name}: steps.{key} restates defaults {sorted(same)}"


def test_run_config_writes_the_merged_variant(tmp_path: Path) -> None:
    dev = PROJECT_ROOT / "configs" / "churn_training.dev.yaml"
    with run_config(dev) as path:
        merged = yaml.safe_load(path.read_text())
        assert "extends" not in merged
        assert merged["parameters"]["source"]["kind"] == "file"
        assert merged["steps"]["promote_churn_model"]["experiment_tracker"] is True
    assert not path.exists()
    base = PROJECT_ROOT / "configs" / "churn_training.yaml"
    with run_config(base) as path:
        assert path == base


def test_extends_chain_and_loops(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("parameters: {x: 1, y: {p: 1, q: 2}}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nparameters: {y: {q: 3}}\n")
    assert load_config(tmp_path / "b.yaml") == {"parameters": {"x": 1, "y": {"p": 1, "q": 3}}}
    (tmp_path / "c.yaml").write_text("extends: d.yaml\n")
    (tmp_path / "d.yaml").write_text("extends: c.yaml\n")
    with pytest.raises(DataError, match="extends itself"):
        load_config(tmp_path / "c.yaml")


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
