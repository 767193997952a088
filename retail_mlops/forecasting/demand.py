"""Daily demand per item (SKU) from invoice lines, on the shop's open days only.

Demand counts every valid sale, including lines without a customer id (real sales to guests):
the invoice-line rules of `retail_mlops.validate.rules` apply except `missing_customer_id`, and two
demand rules are added: non-product codes (postage, fees, manual adjustments, gift vouchers) and
non-numeric invoices. A row that breaks a rule goes to the quarantine frame with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_mlops.errors import DataError
from retail_mlops.validate.rules import RULES, type_frame

# Service lines that are no item demand: postage, carriage, manual, fees, tests, vouchers.
NON_PRODUCT = (
    r"^(?:POST|DOT|M|C2|C3|D|S|B|CRUK|PADS|AMAZONFEE|BANK CHARGES|ADJUST\d*|TEST\d*|GIFT_.*)$"
)
SKIPPED_RULES = {"missing_customer_id"}  # a guest sale is still demand


def _demand_rules() -> list[tuple[str, object]]:
    rules: list[tuple[str, object]] = [(n, r) for n, r in RULES if n not in SKIPPED_RULES]
    rules.append(
        (
            "non_product_code",
            lambda d: d["stock_code"].str.upper().str.fullmatch(NON_PRODUCT).fillna(False),
        )
    )
    return rules


def sales_lines(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw invoice lines into valid item sales and a quarantine frame with a reason each.

    Returns:
        (sales with stock_code, invoice_date, quantity, price; quarantine with raw values and
        `reason`).

    Raises:
        DataError: On a structurally wrong frame or when no sale survives.
    """
    typed = type_frame(raw)
    reason = pd.Series(pd.NA, index=typed.index, dtype="string")
    for name, rule in _demand_rules():
        hit = pd.Series(rule(typed), index=typed.index).fillna(False).astype(bool)  # type: ignore[operator]
        reason[hit & reason.isna()] = name
    bad = reason.notna()
    if bad.all():
        counts = reason.value_counts().to_dict()
        raise DataError(f"no valid sales left after filtering ({len(raw)} rows; reasons: {counts})")
    sales = pd.DataFrame(
        {
            "stock_code": typed.loc[~bad, "stock_code"].astype(str).str.upper(),
            "invoice_date": typed.loc[~bad, "invoice_date"],
            "quantity": typed.loc[~bad, "quantity"].astype("int64"),
            "price": typed.loc[~bad, "price"].astype("float64"),
        }
    ).reset_index(drop=True)
    quarantine = raw.loc[bad].astype("string").assign(reason=reason[bad]).reset_index(drop=True)
    return sales, quarantine


def daily_demand(sales: pd.DataFrame) -> pd.DataFrame:
    """Units and average unit price per item and open day, zeros filled from the first sale.

    Days on which the shop sold nothing at all (closed days) have no row; an item's days before
    its first sale have no row either (not listed yet).

    Returns:
        Long frame: stock_code, ds, y (units), price (units-weighted unit price, NaN on a day
        without sales), sorted by stock_code and ds.
    """
    day = sales["invoice_date"].dt.normalize()
    agg = (
        sales.assign(ds=day, revenue=sales["quantity"] * sales["price"])
        .groupby(["stock_code", "ds"], sort=True)[["quantity", "revenue"]]
        .sum()
    )
    calendar = pd.DatetimeIndex(np.sort(day.unique()))
    y = agg["quantity"].unstack("ds").reindex(columns=calendar)
    revenue = agg["revenue"].unstack("ds").reindex(columns=calendar)
    started = y.notna().cumsum(axis=1) > 0
    units = y.fillna(0.0).where(started)
    frame = units.stack().rename("y").to_frame()
    price = (revenue / y).stack()
    frame["price"] = price.reindex(frame.index)
    out = frame.reset_index()
    out.columns = ["stock_code", "ds", "y", "price"]
    return out.astype({"stock_code": str, "y": "float64", "price": "float64"})


@dataclass
class Panel:
    """Items x open days as arrays: NaN before an item's first sale.

    Attributes:
        skus: Item codes, one per row.
        dates: The open days, one per column.
        y: Units sold, float (S x T).
        price: Average unit price on days with sales, else NaN (S x T).
    """

    skus: np.ndarray
    dates: pd.DatetimeIndex
    y: np.ndarray
    price: np.ndarray

    @classmethod
    def from_long(cls, demand: pd.DataFrame) -> Panel:
        """Build from the long frame of `daily_demand` (or any stock_code, ds, y[, price])."""
        wide = demand.pivot(index="stock_code", columns="ds", values="y").sort_index()
        if "price" in demand:
            price = demand.pivot(index="stock_code", columns="ds", values="price")
            price = price.reindex(index=wide.index, columns=wide.columns)
        else:
            price = pd.DataFrame(np.nan, index=wide.index, columns=wide.columns)
        return cls(
            skus=wide.index.to_numpy(dtype=object),
            dates=pd.DatetimeIndex(wide.columns),
            y=wide.to_numpy(dtype="float64"),
            price=price.to_numpy(dtype="float64"),
        )

    def subset(self, rows: np.ndarray) -> Panel:
        """The panel restricted to some items (index array or boolean mask)."""
        return Panel(self.skus[rows], self.dates, self.y[rows], self.price[rows])

    def index_of(self, day: pd.Timestamp) -> int:
        """Column index of the first open day on or after `day`."""
        return int(self.dates.searchsorted(pd.Timestamp(day)))

    def series(self, row: int, end: int | None = None) -> pd.DataFrame:
        """One item's history (ds, y) before column `end`, from its first sale."""
        y = self.y[row, :end]
        ok = ~np.isnan(y)
        return pd.DataFrame({"ds": self.dates[: len(y)][ok], "y": y[ok]})


def selling_days(panel: Panel, end: int) -> np.ndarray:
    """Number of days with a sale before column `end`, per item."""
    return np.asarray((np.nan_to_num(panel.y[:, :end]) > 0).sum(axis=1))
