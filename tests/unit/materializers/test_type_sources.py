"""Data-type sources resolved once: the source ZenML records, no package scan per artifact."""

from __future__ import annotations

import importlib.metadata

import pandas as pd
import pytest
import xgboost as xgb
from zenml.utils import source_utils

import materializers  # noqa: F401  (registers the materializers and the resolved-once sources)

NAME = source_utils.ZENML_SOURCE_ATTRIBUTE_NAME


class LocalFrame(pd.DataFrame):
    """A subclass defined here: must resolve to itself, never to pandas' DataFrame."""


@pytest.mark.parametrize("cls", [pd.DataFrame, xgb.XGBClassifier, xgb.XGBRegressor])
def test_the_source_is_the_one_zenml_resolves(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = source_utils.resolve(cls)
    monkeypatch.delattr(cls, NAME)  # ZenML's own resolution, package lookup and all
    assert source_utils.resolve(cls) == pinned
    assert pinned.type == source_utils.SourceType.DISTRIBUTION_PACKAGE
    assert pinned.package_name == cls.__module__.split(".")[0]


def test_later_resolutions_scan_no_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    first = source_utils.resolve(pd.DataFrame)

    def no_scan() -> None:
        raise AssertionError("packages_distributions() was called again")

    monkeypatch.setattr(importlib.metadata, "packages_distributions", no_scan)
    assert source_utils.resolve(pd.DataFrame) == first
    assert source_utils.resolve(xgb.XGBRegressor).package_name == "xgboost"


def test_subclasses_and_instances_are_not_taken_for_the_class() -> None:
    source = source_utils.resolve(LocalFrame)
    assert (source.module, source.attribute) == (__name__, "LocalFrame")
    assert getattr(pd.DataFrame({"a": [1]}), NAME) is None
    assert source_utils.load(source_utils.resolve(pd.DataFrame)) is pd.DataFrame
