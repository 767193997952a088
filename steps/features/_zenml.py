"""The stack's Feast repo: the only place the feature steps look at the ZenML stack."""

from __future__ import annotations

from typing import Any

from steps.features._store import feature_store


def stack_feature_store() -> Any:
    """FeatureStore for the active stack's Feast component (feature_repo/ if it has none)."""
    return feature_store(stack_feature_repo())


def stack_feature_repo() -> str:
    """The Feast repo folder of the active stack's Feast component (default feature_repo/).

    A relative folder is taken from the project root, so a remote stack can name
    feature_repo/remote once and each pod finds it wherever its code was unpacked.
    """
    from zenml.client import Client

    from steps.features._store import DEFAULT_REPO
    from steps.paths import resolve

    component = Client().active_stack.feature_store
    repo = getattr(getattr(component, "config", None), "feast_repo", None) if component else None
    return str(resolve(repo)) if repo else str(DEFAULT_REPO)
