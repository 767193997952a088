"""Where the project keeps its local state (gitignored), overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Return the folder for local state: RETAIL_MLOPS_HOME, else `.state/` in the project.

    Tests point RETAIL_MLOPS_HOME at a temporary folder so they never touch the user's state.
    """
    root = Path(os.environ.get("RETAIL_MLOPS_HOME", PROJECT_ROOT / ".state"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def resolve(path: str | Path) -> Path:
    """Resolve a config path: absolute stays, relative is taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def use_bentoml_home() -> Path:
    """Point BentoML at the project's model and Bento store unless the caller chose one.

    The store is BENTOML_HOME, default <state>/bentoml, so tests and users never share one by
    accident. BentoML reads the variable when a store is first used, not at import, so every
    function that touches a store calls this first; nothing depends on import order.
    """
    return Path(os.environ.setdefault("BENTOML_HOME", str(state_dir() / "bentoml")))
