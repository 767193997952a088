"""A/B analysis of the churn service: every logged score against what the customer then did.

The service logs each score, answered or shadow, with the time of the features it used
(`as_of`). A score made at `as_of` predicts churn over [as_of, as_of + horizon), the very
label the model was trained on, so outcomes come from `churn_labels` rather than a copy of
its rule. An outcome is known only once the invoice lines reach as_of + horizon; before that
a row is *immature*. Every row that cannot be judged (no `as_of`, a repeated score, immature,
or a window that starts before the lines do) keeps a status and is counted, so a report on a
young log says how little it rests on instead of looking conclusive.

Variants that answered different customers (the router's split) are compared with
independent-sample tests. A shadow variant scored the very customers the champion answered,
so it is compared pair by pair, which removes the customer-to-customer spread and needs far
fewer rows to see the same difference. The tests treat rows as independent; a customer
scored at several as_of dates makes them slightly optimistic, so a verdict near alpha is a
reason to wait for more rows, not to promote.

Framework-free, so a CLI, a pipeline step and the tests can share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from retail_mlops.errors import DataError
from retail_mlops.features.customer import churn_labels
from retail_mlops.serving.predlog import COLUMNS as LOG_COLUMNS

# The predictions log's columns the report reads (not the request id or the endpoint).
REQUIRED_COLUMNS = tuple(c for c in LOG_COLUMNS if c not in ("request_id", "endpoint"))
REQUIRED_LINE_COLUMNS = ("customer_id", "invoice_date")

# Row statuses; only MATURE rows have an outcome and enter the metrics and tests.
MATURE = "mature"
IMMATURE = "immature"
NO_AS_OF = "no_as_of"
BEFORE_DATA = "before_data"
DUPLICATE = "duplicate"

# The same clipping as retail_mlops.churn.metrics, so live log losses compare with training's.
_EPS = 1e-7
# Below this many discordant pairs McNemar's chi-square approximation is poor: use the exact
# binomial test instead.
_MCNEMAR_EXACT_BELOW = 25
_DEDUP_KEY = ["variant", "entity_id", "as_of", "served"]
_PAIR_KEY = ["entity_id", "as_of"]


@dataclass(frozen=True)
class ABCounts:
    """Where every logged row went; the fields other than `logged` add up to it."""

    logged: int
    duplicates: int
    no_as_of: int
    before_data: int
    immature: int
    mature: int


@dataclass(frozen=True)
class ABTest:
    """One variant against the champion; differences are variant minus champion.

    A negative `log_loss_diff` and a positive `accuracy_diff` favour the variant. P-values
    are None when the test could not be run (too few rows, or no champion rows).
    """

    variant: str
    served: bool
    design: str  # "independent" (different customers) or "paired" (shadow, same customers)
    n_champion: int
    n_variant: int
    accuracy_diff: float | None
    log_loss_diff: float | None
    accuracy_test: str
    accuracy_p: float | None
    log_loss_test: str
    log_loss_p: float | None
    verdict: str


@dataclass(frozen=True)
class ABReport:
    """The per-variant table, the tests against the champion, and where every row went.

    Attributes:
        table: One row per (variant, served): counts, model version(s) and metrics on the
            mature rows (None where undefined, e.g. ROC AUC with one class).
        tests: One entry per non-champion (variant, served) group.
        counts: Totals of `rows` by status.
        rows: Every logged row with its `status`, and for mature rows `churned`, `correct`
            and `row_log_loss`, so any number in the table can be traced to its rows.
        champion: The variant the others are compared with.
        horizon_days: The churn horizon the outcomes use.
        data_end: The last invoice date: outcomes are known up to here.
        alpha: The family-wise significance level of each variant's verdict.
        min_rows: The fewest mature rows (pairs, for shadow) a test needs.
    """

    table: pd.DataFrame
    tests: list[ABTest]
    counts: ABCounts
    rows: pd.DataFrame
    champion: str
    horizon_days: int
    data_end: pd.Timestamp
    alpha: float
    min_rows: int


def ab_report(
    log: pd.DataFrame,
    lines: pd.DataFrame,
    horizon_days: int,
    champion: str = "champion",
    alpha: float = 0.05,
    min_rows: int = 30,
) -> ABReport:
    """Compare the variants in a predictions log on the outcomes the invoice lines show.

    Args:
        log: The predictions log (`retail_mlops.serving.predlog.read_log`).
        lines: Clean invoice lines; their last date bounds which outcomes are known.
        horizon_days: Churn horizon: no invoice line in [as_of, as_of + horizon) is churn.
        champion: The variant every other one is tested against.
        alpha: Significance level of each variant's verdict, over its two tests together.
        min_rows: The fewest mature rows per side (or pairs, in shadow mode) to test.

    Returns:
        The report; `render` turns it into text.

    Raises:
        DataError: If the log or lines lack a column, the log is empty, a score is not a
            probability, or an `as_of` is not a time.
    """
    _check_inputs(log, lines, horizon_days)
    rows, data_end = _outcomes(log, lines, horizon_days)
    by_status = rows["status"].value_counts()
    counts = ABCounts(
        logged=len(rows),
        duplicates=int(by_status.get(DUPLICATE, 0)),
        no_as_of=int(by_status.get(NO_AS_OF, 0)),
        before_data=int(by_status.get(BEFORE_DATA, 0)),
        immature=int(by_status.get(IMMATURE, 0)),
        mature=int(by_status.get(MATURE, 0)),
    )
    table = _variant_table(rows, champion)
    tests = _tests(rows, table, champion, alpha, min_rows)
    return ABReport(
        table=table,
        tests=tests,
        counts=counts,
        rows=rows,
        champion=champion,
        horizon_days=horizon_days,
        data_end=data_end,
        alpha=alpha,
        min_rows=min_rows,
    )


def _check_inputs(log: pd.DataFrame, lines: pd.DataFrame, horizon_days: int) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in log.columns]
    if missing:
        raise DataError(f"predictions log lacks column(s): {', '.join(missing)}")
    if log.empty:
        raise DataError("no predictions logged yet: serve some traffic, then run the report")
    missing = [c for c in REQUIRED_LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise DataError(f"invoice lines lack column(s): {', '.join(missing)}")
    if lines.empty:
        raise DataError("no invoice lines: outcomes cannot be observed")
    if horizon_days <= 0:
        raise DataError(f"horizon_days must be positive, got {horizon_days}")
    score = pd.to_numeric(log["score"], errors="coerce")
    bad = int((score.isna() | (score < 0) | (score > 1)).sum())
    if bad:
        raise DataError(f"predictions log has {bad} score(s) that are not probabilities in [0, 1]")
    if log["served"].isna().any():
        raise DataError("predictions log has rows with no `served` flag")


def _naive_utc(values: pd.Series) -> pd.Series:
    """`as_of` as naive UTC datetimes (the log writes naive UTC; tz-aware input is converted)."""
    try:
        out = pd.to_datetime(values, utc=True)
    except (TypeError, ValueError) as exc:
        raise DataError(f"predictions log `as_of` has values that are not times: {exc}") from exc
    return out.dt.tz_convert(None).astype("datetime64[ns]")


def _outcomes(
    log: pd.DataFrame, lines: pd.DataFrame, horizon_days: int
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Every log row with a status; mature rows also get their outcome and per-row losses."""
    rows = log[list(REQUIRED_COLUMNS)].copy()
    rows["entity_id"] = rows["entity_id"].astype(str)
    rows["variant"] = rows["variant"].astype(str)
    rows["served"] = rows["served"].astype(bool)
    rows["score"] = pd.to_numeric(rows["score"]).astype(float)
    rows["as_of"] = _naive_utc(rows["as_of"])
    # "first" means first in time: parts from two workers interleave, so sort, stably
    rows["timestamp"] = pd.to_datetime(rows["timestamp"])
    rows = rows.sort_values("timestamp", kind="stable", ignore_index=True)

    dates = pd.to_datetime(lines["invoice_date"])
    data_start, data_end = dates.min(), dates.max()
    horizon = pd.Timedelta(days=horizon_days)
    has_as_of = rows["as_of"].notna()
    # rows without as_of are never duplicates of each other: their features are unknown and
    # may differ between two requests for the same customer
    repeated = has_as_of & rows.duplicated(subset=_DEDUP_KEY, keep="first")
    rows["status"] = np.select(
        [
            ~has_as_of,
            repeated,
            rows["as_of"] < data_start,
            rows["as_of"] + horizon > data_end,
        ],
        [NO_AS_OF, DUPLICATE, BEFORE_DATA, IMMATURE],
        default=MATURE,
    )

    mature = rows["status"] == MATURE
    churned = pd.Series(np.nan, index=rows.index)
    if mature.any():
        ids = lines["customer_id"].astype(str)
        wanted = set(rows.loc[mature, "entity_id"])
        # narrow the lines once; churn_labels then scans only these per as_of
        first, last = rows.loc[mature, "as_of"].min(), rows.loc[mature, "as_of"].max()
        near = lines[ids.isin(wanted) & (dates >= first) & (dates < last + horizon)]
        near = near.assign(customer_id=near["customer_id"].astype(str))
        for as_of, group in rows[mature].groupby("as_of"):
            labels = churn_labels(near, group["entity_id"].unique(), as_of, horizon_days)
            churned.loc[group.index] = group["entity_id"].map(labels).to_numpy(dtype=float)
    rows["churned"] = churned.astype("Int64")
    p = rows["score"].clip(_EPS, 1 - _EPS)
    y = churned
    rows["correct"] = ((rows["score"] >= 0.5).astype(float) == y).where(mature).astype("boolean")
    rows["row_log_loss"] = (-(y * np.log(p) + (1 - y) * np.log(1 - p))).where(mature)
    return rows, pd.Timestamp(data_end)


def _group_order(rows: pd.DataFrame, champion: str) -> list[tuple[str, bool]]:
    """Champion first, then the others by name; answered before shadow within a variant."""
    keys = {(str(v), bool(s)) for v, s in zip(rows["variant"], rows["served"], strict=True)}
    return sorted(keys, key=lambda k: (k[0] != champion, k[0], not k[1]))


def _metrics(group: pd.DataFrame) -> dict[str, float | None]:
    """Churn rate, mean score and the quality metrics on a group's mature rows."""
    m = group[group["status"] == MATURE]
    if m.empty:
        keys = ("churn_rate", "mean_score", "roc_auc", "log_loss", "brier", "accuracy")
        return dict.fromkeys(keys)
    y = m["churned"].to_numpy(dtype=int)
    s = m["score"].to_numpy(dtype=float)
    return {
        "churn_rate": float(y.mean()),
        "mean_score": float(s.mean()),
        "roc_auc": float(roc_auc_score(y, s)) if len(set(y)) == 2 else None,
        "log_loss": float(m["row_log_loss"].mean()),
        "brier": float(np.mean((s - y) ** 2)),
        "accuracy": float(m["correct"].astype(bool).mean()),
    }


def _variant_table(rows: pd.DataFrame, champion: str) -> pd.DataFrame:
    records = []
    for variant, served in _group_order(rows, champion):
        group = rows[(rows["variant"] == variant) & (rows["served"] == served)]
        status = group["status"].value_counts()
        versions = sorted({str(v) for v in group["model_version"]}, key=_version_key)
        records.append(
            {
                "variant": variant,
                "served": served,
                "model_versions": ",".join(versions),
                "n": int(len(group) - status.get(DUPLICATE, 0)),
                "n_mature": int(status.get(MATURE, 0)),
                "n_immature": int(status.get(IMMATURE, 0)),
                "n_no_as_of": int(status.get(NO_AS_OF, 0)),
                **_metrics(group),
            }
        )
    return pd.DataFrame.from_records(records)


def _version_key(version: str) -> tuple[int, str]:
    """Numeric versions in number order (2 before 10), anything else after them by name."""
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _tests(
    rows: pd.DataFrame, table: pd.DataFrame, champion: str, alpha: float, min_rows: int
) -> list[ABTest]:
    mature = rows[rows["status"] == MATURE]
    champ = mature[(mature["variant"] == champion) & mature["served"]]
    has_champion = bool(((rows["variant"] == champion) & rows["served"]).any())
    out = []
    for variant, served in zip(table["variant"], table["served"], strict=True):
        if variant == champion:
            continue
        other = mature[(mature["variant"] == variant) & (mature["served"] == served)]
        if served:
            out.append(_independent(champ, other, variant, alpha, min_rows, has_champion))
        else:
            out.append(_paired(champ, other, variant, alpha, min_rows, has_champion))
    return out


def _independent(
    champ: pd.DataFrame,
    other: pd.DataFrame,
    variant: str,
    alpha: float,
    min_rows: int,
    has_champion: bool,
) -> ABTest:
    """Different customers on each side: two-proportion z on accuracy, Welch t on log loss."""
    n_c, n_v = len(champ), len(other)
    acc_c = champ["correct"].astype(bool).to_numpy()
    acc_v = other["correct"].astype(bool).to_numpy()
    ll_c = champ["row_log_loss"].to_numpy(dtype=float)
    ll_v = other["row_log_loss"].to_numpy(dtype=float)
    acc_diff = float(acc_v.mean() - acc_c.mean()) if n_c and n_v else None
    ll_diff = float(ll_v.mean() - ll_c.mean()) if n_c and n_v else None
    acc_p = ll_p = None
    blocked = _blocked(has_champion, min(n_c, n_v), min_rows)
    if blocked is None:
        acc_p = _two_proportion_p(int(acc_v.sum()), n_v, int(acc_c.sum()), n_c)
        ll_p = _finite(stats.ttest_ind(ll_v, ll_c, equal_var=False).pvalue)
    verdict = blocked or _verdict(
        variant, [(acc_p, acc_diff, "accuracy"), (ll_p, _neg(ll_diff), "log loss")], alpha
    )
    return ABTest(
        variant=variant,
        served=True,
        design="independent",
        n_champion=n_c,
        n_variant=n_v,
        accuracy_diff=acc_diff,
        log_loss_diff=ll_diff,
        accuracy_test="two-proportion z",
        accuracy_p=acc_p,
        log_loss_test="Welch t",
        log_loss_p=ll_p,
        verdict=verdict,
    )


def _paired(
    champ: pd.DataFrame,
    other: pd.DataFrame,
    variant: str,
    alpha: float,
    min_rows: int,
    has_champion: bool,
) -> ABTest:
    """The same customers on both sides: McNemar on correctness, Wilcoxon on log loss.

    Pairs are (customer, as_of): the outcome depends on nothing else, and after
    de-duplication each side has at most one row per pair.
    """
    cols = [*_PAIR_KEY, "correct", "row_log_loss"]
    pairs = champ[cols].merge(
        other[cols], on=_PAIR_KEY, suffixes=("_c", "_v"), validate="one_to_one"
    )
    n = len(pairs)
    right_c = pairs["correct_c"].astype(bool).to_numpy()
    right_v = pairs["correct_v"].astype(bool).to_numpy()
    d = (pairs["row_log_loss_v"] - pairs["row_log_loss_c"]).to_numpy(dtype=float)
    acc_diff = float(right_v.mean() - right_c.mean()) if n else None
    ll_diff = float(d.mean()) if n else None
    acc_p = ll_p = None
    acc_test = "McNemar"
    ll_dir: float | None = None
    blocked = _blocked(has_champion, n, min_rows)
    if blocked is None:
        only_c = int((right_c & ~right_v).sum())
        only_v = int((right_v & ~right_c).sum())
        acc_test, acc_p = _mcnemar(only_c, only_v)
        ll_p, ll_dir = _wilcoxon(d)
    verdict = blocked or _verdict(
        variant, [(acc_p, acc_diff, "accuracy"), (ll_p, ll_dir, "log loss")], alpha
    )
    return ABTest(
        variant=variant,
        served=False,
        design="paired",
        n_champion=n,
        n_variant=n,
        accuracy_diff=acc_diff,
        log_loss_diff=ll_diff,
        accuracy_test=acc_test,
        accuracy_p=acc_p,
        log_loss_test="Wilcoxon signed-rank",
        log_loss_p=ll_p,
        verdict=verdict,
    )


def _blocked(has_champion: bool, n: int, min_rows: int) -> str | None:
    """Why a test cannot run, in words; None when it can."""
    if not has_champion:
        return "no champion rows to compare with"
    if n < min_rows:
        return f"too few mature rows to test ({n} < {min_rows})"
    return None


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided pooled z-test p-value for k1/n1 vs k2/n2."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:  # both sides all right or all wrong: identical proportions
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def _mcnemar(only_champion: int, only_variant: int) -> tuple[str, float]:
    """McNemar's test on the discordant pairs: exact binomial when few, else chi-square."""
    discordant = only_champion + only_variant
    if discordant == 0:
        return "McNemar exact", 1.0
    if discordant < _MCNEMAR_EXACT_BELOW:
        return "McNemar exact", float(stats.binomtest(only_variant, discordant, 0.5).pvalue)
    chi2 = (abs(only_variant - only_champion) - 1) ** 2 / discordant  # continuity-corrected
    return "McNemar chi2", float(stats.chi2.sf(chi2, df=1))


def _wilcoxon(d: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank p-value, and its direction (+1: the variant loses less).

    The direction comes from the signed ranks the test itself uses, not the mean, so a few
    large losses cannot make the verdict point against the test.
    """
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 1.0, 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    direction = float(np.sign(ranks[nonzero < 0].sum() - ranks[nonzero > 0].sum()))
    p = _finite(stats.wilcoxon(nonzero).pvalue)
    return (1.0 if p is None else p), direction


def _finite(p: float) -> float | None:
    return float(p) if math.isfinite(p) else None


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _verdict(
    variant: str, results: Sequence[tuple[float | None, float | None, str]], alpha: float
) -> str:
    """One verdict from the two tests, each (p-value, direction: > 0 favours the variant).

    Holm's step-down keeps the chance of a false "better" or "worse" at `alpha` although two
    tests are read; a variant significantly better on one and worse on the other is "mixed".
    """
    ran = sorted((p, d, name) for p, d, name in results if p is not None and d is not None)
    better, worse = [], []
    for i, (p, d, name) in enumerate(ran):
        if p > alpha / (len(ran) - i):
            break
        if d > 0:
            better.append(name)
        elif d < 0:
            worse.append(name)
    if better and worse:
        return f"mixed: {variant} better on {', '.join(better)}, worse on {', '.join(worse)}"
    if better:
        return f"{variant} better"
    if worse:
        return f"{variant} worse"
    return "no significant difference"


def _fmt(x: object, spec: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def _grid(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *body]
    ]


def render(report: ABReport) -> str:
    """The report as plain-text tables for a terminal: counts, variants, tests."""
    c = report.counts
    last_as_of = (report.data_end - pd.Timedelta(days=report.horizon_days)).date()
    out = [
        f"Churn A/B report: champion '{report.champion}', horizon {report.horizon_days} days, "
        f"outcomes known to {report.data_end.date()} (mature: as_of up to {last_as_of})",
        f"{c.logged} scores logged: {c.mature} mature, {c.immature} immature, "
        f"{c.no_as_of} without as_of, {c.before_data} before the data, "
        f"{c.duplicates} duplicates",
        "",
    ]
    header = ["variant", "rows", "version", "n", "mature", "churn rate", "mean score"]
    header += ["roc auc", "log loss", "brier", "acc@0.5"]
    body = [
        [
            str(r.variant),
            "answered" if r.served else "shadow",
            str(r.model_versions),
            str(r.n),
            str(r.n_mature),
            _fmt(r.churn_rate, ".3f"),
            _fmt(r.mean_score, ".3f"),
            _fmt(r.roc_auc, ".3f"),
            _fmt(r.log_loss, ".4f"),
            _fmt(r.brier, ".4f"),
            _fmt(r.accuracy, ".3f"),
        ]
        for r in report.table.itertuples(index=False)
    ]
    out += _grid(header, body)
    out.append("(metrics and mean score on mature rows only)")
    if report.tests:
        out += [
            "",
            f"Against '{report.champion}': differences are variant minus champion; a verdict "
            f"holds at alpha {report.alpha} over both tests (Holm)",
            f"and needs at least {report.min_rows} mature rows a side (pairs, for shadow rows).",
        ]
        header = ["variant", "design", "n", "d acc", "accuracy test", "p", "d log loss"]
        header += ["log loss test", "p", "verdict"]
        body = [
            [
                t.variant,
                t.design,
                str(t.n_variant) if t.design == "paired" else f"{t.n_champion}/{t.n_variant}",
                _fmt(t.accuracy_diff, "+.3f"),
                t.accuracy_test,
                _fmt(t.accuracy_p, ".3g"),
                _fmt(t.log_loss_diff, "+.4f"),
                t.log_loss_test,
                _fmt(t.log_loss_p, ".3g"),
                t.verdict,
            ]
            for t in report.tests
        ]
        out += _grid(header, body)
    return "\n".join(out)
