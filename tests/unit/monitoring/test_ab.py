"""The A/B report on the committed real subset, with serving simulated at real dates.

Real customers active before 2011-03-01 and 2011-06-01 are "scored" at those dates. One
variant's scores are built from the customers' real outcomes plus seeded noise (informative),
the other's are seeded noise alone, so the report must find the informative one better.
Rows at 2011-10-01 (whose 90-day window runs past the data's end, 2011-12-09), rows with no
as_of and repeated scores are mixed in and must be counted, never used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from retail_mlops.errors import DataError
from retail_mlops.features.customer import churn_entities, churn_labels
from retail_mlops.monitoring.ab import ABReport, ab_report, render
from retail_mlops.serving.predlog import COLUMNS, PredictionLog, read_log

HORIZON = 90
AS_OFS = [pd.Timestamp("2011-03-01"), pd.Timestamp("2011-06-01")]
LATE = pd.Timestamp("2011-10-01")  # + 90 days is past the subset's last invoice (2011-12-09)
EARLY = pd.Timestamp("2009-06-01")  # before the subset's first invoice (2009-12-01)
N_LATE, N_NO_AS_OF, N_EARLY, N_DUP = 40, 25, 3, 10
WALL = pd.Timestamp("2026-01-05 12:00:00")


@pytest.fixture(scope="module")
def entities(subset_clean: pd.DataFrame) -> pd.DataFrame:
    """Real (customer, as_of, churned) at the two dates, as the model was trained on them."""
    ent = churn_entities(subset_clean, AS_OFS, HORIZON, active_window_days=365)
    assert len(ent) > 600
    assert 0.3 < ent["churned"].mean() < 0.8  # both classes well represented
    return ent


def _scores(y: np.ndarray, informative: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if informative:
        return np.clip(0.25 + 0.5 * y + rng.normal(0.0, 0.15, len(y)), 0.01, 0.99)
    return rng.uniform(0.01, 0.99, len(y))


def _log(
    ent: pd.DataFrame,
    scores: np.ndarray,
    variant: str = "champion",
    served: bool = True,
    version: int = 1,
    start: int = 0,
    as_of: Any = "entity",
) -> pd.DataFrame:
    """Log rows in `_predlog.COLUMNS` order, one per entity, as the service writes them."""
    n = len(ent)
    times = ent["event_timestamp"] if as_of == "entity" else pd.Series(as_of, index=ent.index)
    return pd.DataFrame(
        {
            "request_id": [f"r{start + i}" for i in range(n)],
            "timestamp": WALL + pd.to_timedelta(np.arange(start, start + n), unit="s"),
            "endpoint": "predict" if as_of is pd.NaT else "predict_customer",
            "entity_id": ent["customer_id"].astype(str).to_numpy(),
            "variant": variant,
            "model_version": version,
            "score": scores,
            "served": served,
            # one unit throughout, as Parquet gives it back
            "as_of": times.astype("datetime64[ns]").to_numpy(),
        },
        columns=COLUMNS,
    )


def _sticky_split(ent: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each customer always on the same side, like the router's sticky assignment."""
    ids = np.sort(ent["customer_id"].unique())
    rng = np.random.default_rng(7)
    challengers = set(rng.permutation(ids)[: len(ids) // 2])
    on = ent["customer_id"].isin(challengers)
    return ent[~on].reset_index(drop=True), ent[on].reset_index(drop=True)


@pytest.fixture(scope="module")
def split_log(entities: pd.DataFrame) -> pd.DataFrame:
    """Champion (noise) and challenger (informative) on different customers, plus rows to skip."""
    champ, chall = _sticky_split(entities)
    y_c, y_v = champ["churned"].to_numpy(), chall["churned"].to_numpy()
    c: dict[str, Any] = {"variant": "champion", "version": 3}
    v: dict[str, Any] = {"variant": "challenger", "version": 4}
    parts = [
        _log(champ, scores=_scores(y_c, False, 1), **c),
        _log(chall, scores=_scores(y_v, True, 2), start=10_000, **v),
        # scored too recently for the outcome to be known
        _log(entities.head(N_LATE), scores=np.full(N_LATE, 0.3), start=20_000, as_of=LATE, **c),
        # /predict rows: the features' time is unknown
        _log(entities.tail(N_NO_AS_OF), np.full(N_NO_AS_OF, 0.6), start=30_000, as_of=pd.NaT, **v),
        # an as_of before the lines begin: "no purchase" there means no data, not churn
        _log(entities.head(N_EARLY), np.full(N_EARLY, 0.5), start=40_000, as_of=EARLY, **c),
    ]
    # the same challenger scores again later (a retried request): a repeat, with another score
    dup = _log(chall.head(N_DUP), np.full(N_DUP, 0.995), start=50_000, **v)
    # repeats first in the frame, as parts from two workers can interleave: "first" is by time
    return pd.concat([dup, *parts], ignore_index=True)


@pytest.fixture(scope="module")
def split_report(split_log: pd.DataFrame, subset_clean: pd.DataFrame) -> ABReport:
    return ab_report(split_log, subset_clean, HORIZON)


def _expected_rows(entities: pd.DataFrame, log: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The rows of `variant` that should be judged: at the two dates, the first of repeats."""
    rows = log[(log["variant"] == variant) & log["as_of"].isin(AS_OFS)]
    rows = rows.sort_values("timestamp").drop_duplicates(["entity_id", "as_of"], keep="first")
    labels = entities.rename(columns={"customer_id": "entity_id", "event_timestamp": "as_of"})
    return rows.merge(labels, on=["entity_id", "as_of"], validate="one_to_one")


def test_outcomes_match_churn_labels(
    split_report: ABReport, subset_clean: pd.DataFrame, entities: pd.DataFrame
) -> None:
    rows = split_report.rows
    mature = rows[rows["status"] == "mature"]
    assert len(mature) == len(entities)  # every simulated score at the two dates is judged
    for as_of in AS_OFS:
        at = mature[mature["as_of"] == as_of]
        expected = churn_labels(subset_clean, at["entity_id"], as_of, HORIZON)
        assert at["churned"].tolist() == expected.tolist()
        assert at["churned"].nunique() == 2
    assert rows.loc[rows["status"] != "mature", "churned"].isna().all()


def test_every_row_is_counted_and_skipped_rows_are_not_used(
    split_report: ABReport, split_log: pd.DataFrame, entities: pd.DataFrame
) -> None:
    c = split_report.counts
    assert c.logged == len(split_log)
    assert (c.duplicates, c.immature, c.no_as_of, c.before_data) == (
        N_DUP,
        N_LATE,
        N_NO_AS_OF,
        N_EARLY,
    )
    assert c.mature == len(entities)
    assert c.duplicates + c.no_as_of + c.before_data + c.immature + c.mature == c.logged
    assert split_report.data_end == pd.Timestamp("2011-12-09 11:20:00")
    table = split_report.table.set_index("variant")
    assert table["n_mature"].sum() == c.mature
    assert table.loc["champion", "n_immature"] == N_LATE
    assert table.loc["challenger", "n_no_as_of"] == N_NO_AS_OF
    # n counts distinct scores: the repeats are not in it
    assert table["n"].sum() == c.logged - c.duplicates


def test_repeated_scores_keep_the_first_in_time(
    split_report: ABReport, split_log: pd.DataFrame
) -> None:
    rows = split_report.rows
    repeats = rows[rows["status"] == "duplicate"]
    assert len(repeats) == N_DUP
    assert (repeats["score"] == 0.995).all()  # the later retries, though first in the frame
    kept = rows.merge(repeats[["entity_id", "as_of"]], on=["entity_id", "as_of"])
    kept = kept[(kept["status"] == "mature") & (kept["variant"] == "challenger")]
    assert len(kept) == N_DUP
    assert (kept["score"] != 0.995).all()


@pytest.mark.parametrize("variant", ["champion", "challenger"])
def test_variant_metrics_equal_sklearn(
    split_report: ABReport, split_log: pd.DataFrame, entities: pd.DataFrame, variant: str
) -> None:
    exp = _expected_rows(entities, split_log, variant)
    y, s = exp["churned"].to_numpy(), exp["score"].to_numpy()
    row = split_report.table.set_index("variant").loc[variant]
    assert row["served"]
    assert row["n_mature"] == len(exp)
    assert row["model_versions"] == ("3" if variant == "champion" else "4")
    assert row["churn_rate"] == pytest.approx(y.mean())
    assert row["mean_score"] == pytest.approx(s.mean())
    assert row["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert row["log_loss"] == pytest.approx(log_loss(y, s))
    assert row["brier"] == pytest.approx(brier_score_loss(y, s))
    assert row["accuracy"] == pytest.approx(accuracy_score(y, s >= 0.5))


def test_answered_variants_get_independent_tests_and_the_better_one_wins(
    split_report: ABReport, split_log: pd.DataFrame, entities: pd.DataFrame
) -> None:
    (t,) = split_report.tests
    champ = _expected_rows(entities, split_log, "champion")
    chall = _expected_rows(entities, split_log, "challenger")
    assert (t.variant, t.served, t.design) == ("challenger", True, "independent")
    assert (t.n_champion, t.n_variant) == (len(champ), len(chall))
    assert t.accuracy_diff is not None
    assert t.accuracy_diff > 0.2
    assert t.log_loss_diff is not None
    assert t.log_loss_diff < 0
    assert t.accuracy_p is not None
    assert t.accuracy_p < 1e-6
    # the Welch test ran on the per-row log losses of exactly these rows

    def row_loss(f: pd.DataFrame) -> np.ndarray:
        y, p = f["churned"].to_numpy(), f["score"].to_numpy()
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    welch = stats.ttest_ind(row_loss(chall), row_loss(champ), equal_var=False)
    assert t.log_loss_p is not None
    assert t.log_loss_p == pytest.approx(welch.pvalue)
    assert t.log_loss_p < 1e-6
    assert t.verdict == "challenger better"


@pytest.fixture(scope="module")
def shadow_log(entities: pd.DataFrame) -> pd.DataFrame:
    """Shadow mode: both variants score every row; only the (informative) champion answers."""
    y = entities["churned"].to_numpy()
    return pd.concat(
        [
            _log(entities, _scores(y, True, 3), "champion", version=5),
            _log(entities, _scores(y, False, 4), "challenger", served=False, version=6),
            _log(
                entities.head(N_LATE),
                np.full(N_LATE, 0.5),
                "challenger",
                served=False,
                start=20_000,
                as_of=LATE,
            ),
        ],
        ignore_index=True,
    )


def test_shadow_rows_are_tested_in_pairs(
    shadow_log: pd.DataFrame, subset_clean: pd.DataFrame, entities: pd.DataFrame
) -> None:
    report = ab_report(shadow_log, subset_clean, HORIZON)
    table = report.table
    assert table[["variant", "served"]].values.tolist() == [
        ["champion", True],
        ["challenger", False],
    ]
    assert table["n_mature"].tolist() == [len(entities), len(entities)]
    (t,) = report.tests
    assert (t.variant, t.served, t.design) == ("challenger", False, "paired")
    assert t.n_champion == t.n_variant == len(entities)
    assert t.accuracy_test == "McNemar chi2"  # hundreds of discordant pairs
    assert t.accuracy_p is not None
    assert t.accuracy_p < 1e-6
    # Wilcoxon on the per-customer differences of exactly these pairs
    rows = report.rows[report.rows["status"] == "mature"]
    by = rows.pivot_table(index=["entity_id", "as_of"], columns="variant", values="row_log_loss")
    assert len(by) == len(entities)
    d = (by["challenger"] - by["champion"]).to_numpy()
    assert t.log_loss_p == pytest.approx(stats.wilcoxon(d).pvalue)
    assert t.log_loss_diff == pytest.approx(d.mean())
    assert t.verdict == "challenger worse"
    assert report.counts.immature == N_LATE


def test_identical_shadow_scores_show_no_difference(
    entities: pd.DataFrame, subset_clean: pd.DataFrame
) -> None:
    s = _scores(entities["churned"].to_numpy(), True, 5)
    log = pd.concat(
        [_log(entities, s, "champion"), _log(entities, s, "challenger", served=False)],
        ignore_index=True,
    )
    (t,) = ab_report(log, subset_clean, HORIZON).tests
    assert (t.accuracy_test, t.accuracy_p, t.log_loss_p) == ("McNemar exact", 1.0, 1.0)
    assert (t.accuracy_diff, t.log_loss_diff) == (0.0, 0.0)
    assert t.verdict == "no significant difference"


def test_too_few_mature_rows_are_not_tested(
    split_log: pd.DataFrame, subset_clean: pd.DataFrame, entities: pd.DataFrame
) -> None:
    report = ab_report(split_log, subset_clean, HORIZON, min_rows=10_000)
    (t,) = report.tests
    assert t.verdict.startswith("too few mature rows to test")
    assert "< 10000" in t.verdict
    assert t.accuracy_p is None
    assert t.log_loss_p is None
    # a young log: every score immature, so nothing to test at the default minimum either
    young = _log(entities.head(50), np.full(50, 0.4), "champion", as_of=LATE)
    young = pd.concat([young, young.assign(variant="challenger")], ignore_index=True)
    report = ab_report(young, subset_clean, HORIZON)
    assert (report.counts.mature, report.counts.immature) == (0, 100)
    assert report.table["roc_auc"].isna().all()
    assert report.tests[0].verdict == "too few mature rows to test (0 < 30)"


def test_a_log_without_the_champion_says_so(
    split_log: pd.DataFrame, subset_clean: pd.DataFrame
) -> None:
    report = ab_report(split_log, subset_clean, HORIZON, champion="v0")
    assert {t.verdict for t in report.tests} == {"no champion rows to compare with"}


@pytest.mark.parametrize("column", ["as_of", "score", "served"])
def test_missing_log_column_is_named(
    split_log: pd.DataFrame, subset_clean: pd.DataFrame, column: str
) -> None:
    with pytest.raises(DataError, match=f"lacks column.*{column}"):
        ab_report(split_log.drop(columns=column), subset_clean, HORIZON)


def test_empty_log_is_a_data_error(tmp_path: Any, subset_clean: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no predictions logged yet"):
        ab_report(read_log(tmp_path / "predictions"), subset_clean, HORIZON)


def test_a_score_that_is_not_a_probability_is_a_data_error(
    split_log: pd.DataFrame, subset_clean: pd.DataFrame
) -> None:
    bad = split_log.copy()
    bad.loc[0, "score"] = 1.5
    with pytest.raises(DataError, match="1 score"):
        ab_report(bad, subset_clean, HORIZON)


def test_a_log_read_back_from_parquet_gives_the_same_report(
    tmp_path: Any, split_log: pd.DataFrame, subset_clean: pd.DataFrame, split_report: ABReport
) -> None:
    folder = tmp_path / "predictions"
    log = PredictionLog(folder)
    # as the service appends: Python values, None for an unknown as_of
    for record in split_log.astype(object).where(split_log.notna(), None).to_records(index=False):
        log.append([tuple(record)])
    log.close()
    report = ab_report(read_log(folder), subset_clean, HORIZON)
    assert report.counts == split_report.counts
    pd.testing.assert_frame_equal(report.table, split_report.table)
    assert report.tests == split_report.tests


def test_render_names_variants_counts_and_verdicts(split_report: ABReport) -> None:
    text = render(split_report)
    assert "champion 'champion'" in text
    assert f"{split_report.counts.mature} mature" in text
    assert f"{N_LATE} immature" in text
    assert f"{N_DUP} duplicates" in text
    assert "challenger better" in text
    assert "two-proportion z" in text
    assert "Welch t" in text
    table = text.splitlines()[3:6]
    assert [row.split()[0] for row in table] == ["variant", "champion", "challenger"]
