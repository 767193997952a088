"""Write the committed forecasting subset: every line of the best-selling items.

Usage: uv run python -m scripts.make_forecast_subset [--items 20]

The churn subset (500 customers) is too sparse per item for forecasting. This keeps every
invoice line (cancellations and postage lines of those invoices' codes included, so demand
validation has real bad rows to quarantine) of the items sold on the most days, plus the
postage lines (`POST`, quarantined as non-product codes), in the source's own format, to
tests/data/online_retail_top_items.csv.gz.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pandas as pd

from retail_mlops.ingest.dataset import fetch_online_retail

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "online_retail_top_items.csv.gz"


def main() -> None:
    """Build and write the subset."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--post-lines", type=int, default=300)
    args = parser.parse_args()

    raw = pd.read_csv(fetch_online_retail(), dtype=str, keep_default_na=False, na_values=[""])
    day = pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize()
    sold = raw.assign(day=day)[pd.to_numeric(raw["Quantity"], errors="coerce") > 0]
    top = sold.groupby("StockCode")["day"].nunique().nlargest(args.items).index
    keep = raw["StockCode"].isin(top)
    post = raw.index[raw["StockCode"] == "POST"][: args.post_lines]
    keep.loc[post] = True
    subset = raw[keep]
    with gzip.open(OUT, "wt", compresslevel=9) as fh:
        subset.to_csv(fh, index=False)
    print(
        f"{len(subset)} lines, {subset['StockCode'].nunique()} codes -> {OUT} "
        f"({OUT.stat().st_size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
