"""Stacks are files: register the stack described in configs/stacks/<name>.yaml idempotently."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from retail_mlops.errors import DataError, InfraError
from retail_mlops.paths import PROJECT_ROOT, state_dir

if TYPE_CHECKING:
    from zenml.enums import StackComponentType

STACKS_DIR = Path(__file__).resolve().parent
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def _expand(value: Any) -> Any:
    """Replace ${VAR} (or ${VAR:-default}) with the environment's value.

    RETAIL_MLOPS_HOME defaults to the state dir, PROJECT_ROOT is the project folder.

    Raises:
        InfraError: If a referenced variable without default is unset (secrets and hosts never
            live in YAML).
    """
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "RETAIL_MLOPS_HOME":
            return os.environ.get(name) or str(state_dir())
        if name == "PROJECT_ROOT":
            return str(PROJECT_ROOT)
        if name in os.environ:
            return os.environ[name]
        if match.group(2) is not None:
            return match.group(2)
        raise InfraError(f"stack config needs environment variable {name}")

    return _VAR.sub(sub, value)


def load_stack_file(name: str) -> dict[str, Any]:
    """Read and expand configs/stacks/<name>.yaml.

    Raises:
        DataError: If no such stack file exists.
    """
    path = STACKS_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in STACKS_DIR.glob("*.yaml")))
        raise DataError(f"no stack file {path.name} (known stacks: {known})")
    return dict(_expand(yaml.safe_load(path.read_text())))


def ensure_mlflow_experiments(
    tracking_uri: str, artifact_root: str | None, names: list[str]
) -> None:
    """Create each experiment if missing, its artifacts under `artifact_root`.

    With `artifact_root` None (a server that stores and serves artifacts itself), they go
    where the server puts them.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    if artifact_root is not None:
        Path(artifact_root).mkdir(parents=True, exist_ok=True)
    for exp in names:
        if client.get_experiment_by_name(exp) is None:
            location = None if artifact_root is None else Path(artifact_root, exp).as_uri()
            client.create_experiment(exp, artifact_location=location)


def register_secrets(secrets: dict[str, dict[str, str]]) -> None:
    """Create or update each ZenML secret of a stack file's `secrets:` block.

    Values come from the environment (`${VAR}`), so credentials never sit in YAML; components
    refer to them as `{{secret_name.key}}`, which ZenML resolves where the step runs.
    """
    from zenml.client import Client

    client = Client()
    for secret_name, values in secrets.items():
        try:
            client.get_secret(secret_name, allow_partial_name_match=False)
        except KeyError:
            client.create_secret(secret_name, values=dict(values))
        else:
            client.update_secret(secret_name, add_or_update_values=dict(values))


def _updates(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether merging `wanted` into a component's `current` settings would change them."""
    return bool(wanted) and dict(current) != {**current, **wanted}


def ensure_flavor(source: str, ctype: StackComponentType, name: str) -> None:
    """Register the custom flavor class at `source` (import path) unless `name` is known.

    Raises:
        InfraError: If the class at `source` is a flavor of another name.
    """
    from zenml.client import Client
    from zenml.stack.flavor import validate_flavor_source

    client = Client()
    _, flavor = validate_flavor_source(source, ctype)
    if flavor.name != name:
        raise InfraError(f"{source} is the flavor {flavor.name!r}, stack file wants {name!r}")
    try:
        client.get_flavor_by_name_and_type(name, ctype)
    except KeyError:
        client.create_flavor(source, ctype)


def register_stack(name: str = "local", activate: bool = True) -> str:
    """Register (or update) the stack described in configs/stacks/<name>.yaml; idempotent.

    Args:
        name: Stack file name without `.yaml`; also the ZenML stack name.
        activate: Make it the active stack.

    Returns:
        The stack name.

    A component with `when_env: VAR` is left out unless VAR is set (a component already in the
    stack stays there); one with `flavor_source: module.Class` has that custom flavor
    registered first.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    spec = load_stack_file(name)
    client = Client()
    register_secrets(spec.get("secrets") or {})
    components: dict[StackComponentType, str] = {}
    for type_name, comp in spec["components"].items():
        ctype = StackComponentType(type_name)
        if comp.get("when_env") and not os.environ.get(comp["when_env"]):
            continue
        if comp.get("flavor_source"):
            ensure_flavor(comp["flavor_source"], ctype, comp["flavor"])
        config = comp.get("configuration") or {}
        if "path" in config and "://" not in config["path"]:
            Path(config["path"]).mkdir(parents=True, exist_ok=True)
        if "tracking_uri" in config and config["tracking_uri"].startswith("sqlite:///"):
            Path(config["tracking_uri"].removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            existing = client.get_stack_component(
                ctype, comp["name"], allow_name_prefix_match=False
            )
        except KeyError:
            existing = None
        # Set in the environment of every step that runs on the stack, wherever it runs (ZenML
        # resolves the secrets there): how a pod learns the hosts and keys its component needs.
        environment = {k: str(v) for k, v in (comp.get("environment") or {}).items()}
        secrets = list(comp.get("secrets") or [])
        if existing is None:
            client.create_stack_component(
                comp["name"],
                comp["flavor"],
                ctype,
                config,
                secrets=secrets or None,
                environment=environment or None,
            )
        elif existing.flavor_name != comp["flavor"]:
            raise InfraError(
                f"component {comp['name']!r} exists with flavor {existing.flavor_name!r}, "
                f"stack file wants {comp['flavor']!r}"
            )
        else:
            changed = _updates(existing.configuration, config)
            moved = _updates(existing.environment, environment)
            # Only secrets not linked yet: ZenML 0.98's SQL store rolls back the whole update
            # (the environment too) when it meets an existing link.
            linked = set(existing.secrets)
            unlinked = [
                name
                for name in secrets
                if client.get_secret(name, allow_partial_name_match=False).id not in linked
            ]
            if changed or moved or unlinked:
                client.update_stack_component(
                    comp["name"],
                    ctype,
                    configuration=config if changed else None,
                    environment=environment if moved else None,
                    add_secrets=unlinked or None,
                )
        components[ctype] = comp["name"]
    try:
        client.get_stack(spec["name"], allow_name_prefix_match=False)
        client.update_stack(spec["name"], component_updates={k: [v] for k, v in components.items()})
    except KeyError:
        client.create_stack(spec["name"], components=components)  # type: ignore[arg-type]
    if activate:
        client.activate_stack(spec["name"])
    mlflow_spec = spec.get("mlflow")
    tracker = spec["components"].get("experiment_tracker", {})
    uri = (tracker.get("configuration") or {}).get("tracking_uri")
    if mlflow_spec and uri:
        if not uri.startswith("sqlite:"):  # a server: the client needs the stack's token
            tracker_component = Client().active_stack.experiment_tracker if activate else None
            if tracker_component is not None:
                tracker_component.configure_mlflow()  # type: ignore[attr-defined]
        ensure_mlflow_experiments(uri, mlflow_spec.get("artifact_root"), mlflow_spec["experiments"])
    return str(spec["name"])
