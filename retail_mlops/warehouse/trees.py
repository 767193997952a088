"""Compile a binary:logistic XGBoost model to one portable SQL query that scores it in place.

Each tree becomes nested `CASE` expressions; trees that share splits are factored so a split
is tested once per group (`forest_sql`), and trees are summed in groups (one subquery column
per group) so no engine meets its expression-depth or parse limits. The probability is the
logistic of `logit(base_score) + sum of groups`. The SQL is written in DuckDB's dialect with
only `CASE`, comparisons, `+ - /`, `EXP` and `CAST`, so sqlglot transpiles it to PostgreSQL and
Snowflake unchanged in meaning.

Three details make the SQL agree with `Booster.predict` to float rounding, not just closely:

- XGBoost rounds every feature to float32 before comparing it with a float32 threshold, so a
  double just below a threshold can round onto it and take the other branch. Each threshold is
  therefore rewritten to the float64 bound `b` with `float32(x) < t` exactly when `x < b`
  (`float32_split_bound`); no cast is needed in the warehouse, and Snowflake has no float32.
- A missing value follows the node's default child. `NULL < b` is NULL and a `CASE` sends NULL
  to its `ELSE`, so each node is one comparison, oriented so that `ELSE` is the default child.
  Missing must be SQL NULL: warehouses order a float NaN above every number, so a NaN takes
  the "no" branch, where XGBoost would treat it as missing.
- Leaves are float32 and XGBoost adds them in float32; the SQL adds them in float64, which is
  closer to the exact sum. On the production model (930 trees) the two differ by under 5e-7
  in probability.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retail_mlops.errors import DataError

DEFAULT_GROUP_SIZE = 100
OBJECTIVE = "binary:logistic"
SqlValue = str | int | float | bool | None


def quote_identifier(name: str) -> str:
    """Double-quote an identifier, so mixed case and reserved words survive every engine."""
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """Quote a possibly dotted table name (`schema.table`) part by part."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def float_literal(value: float) -> str:
    """A double literal that reads back as exactly `value`.

    17 significant digits in exponent form: DuckDB types a literal with an exponent as DOUBLE
    (a plain `0.25` would be a DECIMAL, whose conversion to double may round twice), and 17
    digits round-trip any float64.
    """
    value = float(value)
    if not math.isfinite(value):
        raise DataError(f"cannot write the non-finite value {value} as a SQL literal")
    return f"{value:.16e}"


def double_literal(value: float) -> str:
    """`value` as an explicitly typed double, for literals that are added up.

    DuckDB reads `1.5e-01` as a DOUBLE but PostgreSQL as NUMERIC, and sqlglot renders the
    literal unchanged: a PostgreSQL CASE over NUMERIC leaves sums in arbitrary precision,
    about five times slower than in float8. The cast is folded when the query is planned.
    Thresholds need none: compared with a double column, they are converted to its type.
    """
    return f"CAST({float_literal(value)} AS DOUBLE)"


def sql_literal(value: SqlValue) -> str:
    """A SQL literal for a constant output column (`extra_select`)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_literal(value)
    return "'" + str(value).replace("'", "''") + "'"


def float32_split_bound(threshold: float) -> float:
    """The float64 `b` with `float32(x) < t` exactly when `x < b`, for every double `x`.

    XGBoost compares `float32(x) < t`. The doubles that round (to nearest, ties to even) onto
    `t` or above start at the midpoint `m` between `t` and the float32 just below it; `m`
    itself, a tie, rounds to whichever of the two has an even last mantissa bit. So `b = m`
    when `t` is even (m rounds up onto t), and the next double above `m` when `t` is odd
    (m rounds down, so it still satisfies the comparison). `m` needs 25 significant bits,
    so it is exact in float64.

    Args:
        threshold: A split threshold; it is a float32 inside XGBoost and is rounded to one.

    Returns:
        The bound, a float64.

    Raises:
        DataError: If the threshold is not finite.
    """
    t = np.float32(threshold)
    if not np.isfinite(t):
        raise DataError(f"split threshold {threshold} is not finite")
    with np.errstate(over="ignore"):  # below -FLT_MAX: -inf, handled next
        below = np.nextafter(t, np.float32(-np.inf))
    # Below -FLT_MAX the next "value" is -2**128, where rounding overflows to -inf.
    low = -(2.0**128) if np.isinf(below) else float(below)
    mid = (low + float(t)) / 2.0
    odd = bool(np.array(t, dtype=np.float32).view(np.uint32) & 1)
    return float(np.nextafter(mid, np.inf)) if odd else mid


def as_booster(model: Any, rounds: int | None = None) -> tuple[Any, int | None]:
    """The booster, and how many rounds the caller's own object would predict with.

    An `XGBClassifier` fitted with early stopping predicts with `best_iteration + 1` rounds;
    a bare `Booster` predicts with all of them. Compiling the same rounds keeps the SQL equal
    to what the object it came from returns.
    """
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model, rounds
    if hasattr(model, "get_booster"):
        booster = model.get_booster()
        if rounds is None:
            try:
                rounds = int(model.best_iteration) + 1
            except AttributeError:
                rounds = None
        return booster, rounds
    raise DataError(f"expected an xgboost Booster or XGBClassifier, got {type(model).__name__}")


def _base_score(text: str) -> float:
    """Parse base_score, a plain number in XGBoost 2 and a one-element vector ("[5E-1]") in 3."""
    parts = [p for p in text.strip().strip("[]").replace(",", " ").split() if p]
    if len(parts) != 1:
        raise DataError(f"expected one base_score for a binary model, got {text!r}")
    return float(np.float32(float(parts[0])))


def base_margin(model: Any) -> float:
    """The margin a row has before any tree: logit(base_score).

    XGBoost 2+ stores base_score in probability space for binary:logistic (in the learner's
    config, not `get_params`); the booster adds its logit to the sum of the leaves.

    Raises:
        DataError: If the objective is not binary:logistic or base_score is not in (0, 1).
    """
    booster, _ = as_booster(model, None)
    learner = json.loads(booster.save_config())["learner"]
    _check_objective(learner["objective"]["name"])
    p = _base_score(str(learner["learner_model_param"]["base_score"]))
    if not 0.0 < p < 1.0:
        raise DataError(f"base_score {p} is not a probability; cannot take its logit")
    return math.log(p / (1.0 - p))


def _check_objective(name: str) -> None:
    if name != OBJECTIVE:
        raise DataError(f"only {OBJECTIVE} models compile to SQL, this one is {name}")


def model_features(model: Any, features: Sequence[str] | None = None) -> list[str]:
    """The model's features in column order, checked against the columns the caller has.

    Args:
        model: A Booster or XGBClassifier.
        features: The available columns. With feature names in the booster, they must all be
            among these (any order, extras allowed); without, these are the model's columns in
            order and must match its feature count.

    Raises:
        DataError: If a model feature is not available, or no names are known.
    """
    booster, _ = as_booster(model, None)
    names = list(booster.feature_names or [])
    available = list(features) if features is not None else None
    if names:
        if available is not None:
            missing = [n for n in names if n not in set(available)]
            if missing:
                raise DataError(
                    f"the model needs feature(s) not in the given columns: {', '.join(missing)}"
                )
        return names
    if available is None:
        raise DataError("the booster has no feature names; pass the features in model order")
    if len(available) != booster.num_features():
        raise DataError(
            f"the booster has {booster.num_features()} features and no names; "
            f"got {len(available)} names"
        )
    return available


@dataclass(frozen=True)
class Tree:
    """One regression tree in XGBoost's array layout (node 0 is the root).

    Attributes:
        left: Left ("yes", `x < threshold`) child per node; -1 marks a leaf.
        right: Right ("no") child per node.
        feature: Feature index per split node.
        threshold: float32 split threshold per split node (held as a Python float).
        default_left: Whether a missing value goes left, per node.
        value: Leaf value (a float32) per leaf node.
    """

    left: tuple[int, ...]
    right: tuple[int, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    default_left: tuple[bool, ...]
    value: tuple[float, ...]

    def is_leaf(self, node: int) -> bool:
        """Whether `node` is a leaf."""
        return self.left[node] == -1

    def split_key(self, node: int) -> tuple[int, float, bool]:
        """What decides a split: two nodes with equal keys send every row the same way."""
        return self.feature[node], self.threshold[node], self.default_left[node]

    def shape(self, node: int = 0) -> tuple[Any, ...]:
        """The splits of the subtree at `node`, leaves left out.

        As a sort key it puts trees that share their first splits next to each other.
        """
        if self.is_leaf(node):
            return ()
        return (
            self.split_key(node),
            self.shape(self.left[node]),
            self.shape(self.right[node]),
        )


@dataclass(frozen=True)
class Forest:
    """A binary:logistic booster reduced to what the SQL needs.

    Attributes:
        features: The model's features, in the booster's column order.
        base_margin: logit(base_score), the margin every row starts from.
        trees: The trees, in boosting order.
    """

    features: tuple[str, ...]
    base_margin: float
    trees: tuple[Tree, ...]


def _parse_tree(raw: Mapping[str, Any]) -> Tree:
    if int(raw["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise DataError("multi-target trees cannot be compiled to SQL")
    left = tuple(int(i) for i in raw["left_children"])
    if any(k != 0 for k, c in zip(raw["split_type"], left, strict=True) if c != -1):
        raise DataError("categorical splits cannot be compiled to SQL")
    # float32 values are stored as their shortest decimal; rounding to float32 recovers them
    f32 = [float(np.float32(v)) for v in raw["split_conditions"]]
    return Tree(
        left=left,
        right=tuple(int(i) for i in raw["right_children"]),
        feature=tuple(int(i) for i in raw["split_indices"]),
        threshold=tuple(f32),
        default_left=tuple(bool(d) for d in raw["default_left"]),
        # XGBoost keeps a leaf's value in split_conditions
        value=tuple(f32),
    )


def parse_forest(
    model: Any, features: Sequence[str] | None = None, rounds: int | None = None
) -> Forest:
    """Read the booster's own JSON model (`save_raw("json")`) into a `Forest`.

    Args:
        model: A binary:logistic Booster or XGBClassifier (gbtree, numerical splits).
        features: The available columns (see `model_features`).
        rounds: Boosting rounds to keep; None means what the object itself predicts with
            (all for a Booster, best_iteration + 1 for an early-stopped XGBClassifier).

    Raises:
        DataError: On another objective or booster type, categorical or multi-target trees,
            missing features, or more rounds than the model has.
    """
    booster, rounds = as_booster(model, rounds)
    learner = json.loads(booster.save_raw("json"))["learner"]
    _check_objective(learner["objective"]["name"])
    gbm = learner["gradient_booster"]
    if gbm["name"] != "gbtree":
        raise DataError(f"only gbtree boosters compile to SQL, this one is {gbm['name']}")
    names = model_features(booster, features)
    raw_trees = gbm["model"]["trees"]
    indptr = gbm["model"].get("iteration_indptr") or list(range(len(raw_trees) + 1))
    if rounds is not None:
        if not 0 <= rounds < len(indptr):
            raise DataError(f"asked for {rounds} rounds, the model has {len(indptr) - 1}")
        raw_trees = raw_trees[: indptr[rounds]]
    return Forest(
        features=tuple(names),
        base_margin=base_margin(booster),
        trees=tuple(_parse_tree(t) for t in raw_trees),
    )


def _split_sql(column: str, threshold: float, default_left: bool, yes: str, no: str) -> str:
    """One split. The comparison is oriented so that NULL, which fails it, lands on ELSE."""
    bound = float_literal(float32_split_bound(threshold))
    if default_left:
        return f"CASE WHEN {column} >= {bound} THEN {no} ELSE {yes} END"
    return f"CASE WHEN {column} < {bound} THEN {yes} ELSE {no} END"


def tree_sql(tree: Tree, columns: Sequence[str]) -> str:
    """One tree as nested CASE expressions over the quoted feature `columns` (model order)."""

    def node(i: int) -> str:
        if tree.is_leaf(i):
            return double_literal(tree.value[i])
        return _split_sql(
            columns[tree.feature[i]],
            tree.threshold[i],
            tree.default_left[i],
            node(tree.left[i]),
            node(tree.right[i]),
        )

    return node(0)


def _sum_sql(terms: Sequence[str]) -> str:
    if len(terms) == 1:
        return terms[0]
    return "(" + " + ".join(terms) + ")"


def _balanced_sum(terms: Sequence[str]) -> str:
    """`a + b + ...` nested as a balanced tree: depth log2(n), for any number of groups."""
    if len(terms) <= 2:
        return " + ".join(terms)
    half = len(terms) // 2
    return f"({_balanced_sum(terms[:half])}) + ({_balanced_sum(terms[half:])})"


def forest_sql(trees: Sequence[Tree], columns: Sequence[str]) -> str:
    """The sum of several trees as one expression, with splits they share evaluated once.

    Trees whose (sub)trees start with the same split are factored: `CASE WHEN c THEN a1 ELSE
    b1 END + CASE WHEN c THEN a2 ELSE b2 END` becomes `CASE WHEN c THEN a1 + a2 ELSE b1 + b2
    END`, recursively, and leaves meeting in one branch are added into one literal. Each row
    still reaches the same leaves, so the sum changes only by float64 rounding (~1e-16); the
    warehouse runs about half the comparisons and CASE merges of one CASE per tree.
    """

    def terms(items: Sequence[tuple[Tree, int]]) -> list[str]:
        constant, has_leaf = 0.0, False
        groups: dict[tuple[int, float, bool], list[tuple[Tree, int]]] = {}
        for tree, i in items:
            if tree.is_leaf(i):
                constant += tree.value[i]
                has_leaf = True
            else:
                groups.setdefault(tree.split_key(i), []).append((tree, i))
        out = [double_literal(constant)] if has_leaf else []
        for (feature, threshold, default_left), members in groups.items():
            yes = _sum_sql(terms([(t, t.left[i]) for t, i in members]))
            no = _sum_sql(terms([(t, t.right[i]) for t, i in members]))
            out.append(_split_sql(columns[feature], threshold, default_left, yes, no))
        return out

    if not trees:
        return double_literal(0.0)
    return _sum_sql(terms([(t, 0) for t in trees]))


def _groups(trees: Sequence[Tree], group_size: int, merge: bool) -> list[Sequence[Tree]]:
    """Trees split into groups of at most `group_size`.

    When merging, trees are first sorted by their splits (a sum does not depend on order), so
    trees that share splits fall into one group, where `forest_sql` can factor them.
    """
    if group_size < 1:
        raise DataError(f"group_size must be at least 1, got {group_size}")
    ordered = sorted(trees, key=lambda t: t.shape()) if merge else list(trees)
    return [ordered[i : i + group_size] for i in range(0, len(ordered), group_size)]


def scoring_sql(
    model: Any,
    features: Sequence[str] | None = None,
    *,
    source: str = "customer_features",
    key_columns: Sequence[str] = ("customer_id", "cutoff"),
    extra_select: Mapping[str, SqlValue] | None = None,
    output: str = "churn_probability",
    group_size: int = DEFAULT_GROUP_SIZE,
    merge: bool = True,
    rounds: int | None = None,
) -> str:
    """The full scoring query: keys, the churn probability, and constant columns, per row.

    Its shape is `SELECT keys, sigmoid(margin) AS output, extras FROM (SELECT keys,
    base + g0 + g1 + ... AS margin FROM (SELECT keys, <trees 0..99> AS g0, ... FROM source))`.
    Each group column sums at most `group_size` trees, which bounds the depth of every
    expression however many trees the model has. On PostgreSQL run it with `SET jit = off`:
    JIT-compiling an expression of thousands of CASEs costs minutes, far more than it saves.

    Args:
        model: A binary:logistic Booster or XGBClassifier.
        features: The available columns of `source` (see `model_features`).
        source: Table (or `schema.table`) holding the keys and feature columns.
        key_columns: Columns passed through to the output, e.g. the customer and cutoff.
        extra_select: Constant columns to add, e.g. `{"model_version": 3}`.
        output: Name of the probability column.
        group_size: Most trees summed in one expression.
        merge: Factor splits shared by the trees of a group (`forest_sql`); False writes one
            CASE per tree, in boosting order.
        rounds: Boosting rounds to compile (see `parse_forest`).

    Returns:
        One SELECT statement in DuckDB's dialect.

    Raises:
        DataError: See `parse_forest`; also if `group_size` < 1.
    """
    forest = parse_forest(model, features, rounds)
    columns = [quote_identifier(n) for n in forest.features]
    groups = _groups(forest.trees, group_size, merge)
    keys = [quote_identifier(k) for k in key_columns]
    group_cols = [quote_identifier(f"__trees_{i}") for i in range(len(groups))]
    margin = quote_identifier("__margin")
    inner = [*keys]
    for trees, col in zip(groups, group_cols, strict=True):
        expr = (
            forest_sql(trees, columns) if merge else _sum_sql([tree_sql(t, columns) for t in trees])
        )
        inner.append(f"{expr} AS {col}")
    if not inner:  # no keys and no trees: a select list may not be empty
        inner = [f"0 AS {quote_identifier('__empty')}"]
    margin_expr = _balanced_sum([double_literal(forest.base_margin), *group_cols])
    # The two-sided logistic never takes EXP of a large positive number, which PostgreSQL
    # would reject as an overflow instead of returning infinity.
    probability = (
        f"CASE WHEN {margin} >= 0 THEN 1.0 / (1.0 + EXP(-{margin})) "
        f"ELSE EXP({margin}) / (1.0 + EXP({margin})) END"
    )
    extras = [f"{sql_literal(v)} AS {quote_identifier(k)}" for k, v in (extra_select or {}).items()]
    outer = [*keys, f"{probability} AS {quote_identifier(output)}", *extras]
    sep = ",\n  "
    return (
        f"SELECT\n  {sep.join(outer)}\nFROM (\n"
        f"SELECT\n  {sep.join([*keys, f'{margin_expr} AS {margin}'])}\nFROM (\n"
        f"SELECT\n  {sep.join(inner)}\nFROM {quote_table(source)}\n"
        f") AS {quote_identifier('__groups')}\n"
        f") AS {quote_identifier('__margins')}"
    )
