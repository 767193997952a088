"""Write the committed test subset: a few hundred real customers with their full history.

Usage: uv run python -m scripts.make_subset [--customers 500] [--seed 7]

Reads the cached UCI Online Retail II file (fetching it if needed), keeps every line of a seeded
random sample of customers (cancellations and returns included, so validation has real bad rows
to quarantine) plus a sample of lines without a customer id, and writes them in the source's own
format to tests/data/online_retail_subset.csv.gz.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from retail_mlops.ingest.dataset import fetch_online_retail

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "online_retail_subset.csv.gz"


def main() -> None:
    """Build and write the subset."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--anonymous-lines", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    raw = pd.read_csv(fetch_online_retail(), dtype=str, keep_default_na=False, na_values=[""])
    rng = np.random.default_rng(args.seed)
    ids = np.sort(raw["Customer ID"].dropna().unique())
    chosen = set(rng.choice(ids, size=args.customers, replace=False))
    anonymous = raw.index[raw["Customer ID"].isna()]
    keep = raw["Customer ID"].isin(chosen)
    keep.loc[rng.choice(anonymous, size=args.anonymous_lines, replace=False)] = True
    subset = raw[keep]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical across regenerations
    with gzip.GzipFile(OUT, "wb", mtime=0) as fh:
        fh.write(subset.to_csv(index=False).encode())
    print(
        f"wrote {len(subset)} lines, {len(chosen)} customers to {OUT} "
        f"({OUT.stat().st_size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
