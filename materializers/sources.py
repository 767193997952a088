"""Resolve the source of each stored data type once per process, not once per artifact.

ZenML records every artifact's data type as a source. For a class from an installed package
(`pandas.core.frame.DataFrame`, `xgboost.sklearn.XGBRegressor`) `source_utils.resolve` asks
`importlib.metadata.packages_distributions()` which distribution the module belongs to: a scan
of every installed package's metadata, about 0.4 s here, repeated for each artifact (ten
DataFrames make 4-5 s of a churn_training run). `resolve` first returns a class's
`__zenml_source__` if it has one, the attribute ZenML itself sets on notebook classes. This
module gives the installed-package classes our materializers store (not the project's own
classes, whose source follows the code repository's state) such an attribute, filled on first
use by ZenML's own `resolve` (so the source is exactly the one ZenML would record), then reused.

The attribute is a descriptor that answers only for the class it was made for: a subclass (a
GeoDataFrame, say) gets None and is resolved by ZenML as before, never mistaken for its parent.
"""

from __future__ import annotations

from typing import Any

from zenml.utils import source_utils


class _ResolvedOnce:
    """`__zenml_source__` of one class: ZenML's resolution of it, computed on first read."""

    def __init__(self, cls: type[Any]) -> None:
        self._cls = cls
        self._source: source_utils.Source | None = None
        self._resolving = False

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> source_utils.Source | None:
        if obj is not None or owner is not self._cls or self._resolving:
            return None  # instances, subclasses, and the first resolution itself
        if self._source is None:
            self._resolving = True  # the nested resolve must see no attribute
            try:
                self._source = source_utils.resolve(self._cls)
            finally:
                self._resolving = False
        return self._source


def resolve_once(*classes: type[Any]) -> None:
    """Make ZenML resolve each class's source once per process (see the module docstring)."""
    for cls in classes:
        if not isinstance(
            cls.__dict__.get(source_utils.ZENML_SOURCE_ATTRIBUTE_NAME), _ResolvedOnce
        ):
            setattr(cls, source_utils.ZENML_SOURCE_ATTRIBUTE_NAME, _ResolvedOnce(cls))
