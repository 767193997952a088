"""Write each service's requirements.txt from uv.lock: its direct needs and all they pull in.

Usage: uv run python -m scripts.bento_requirements [--check]

Run it after `uv lock` changes a version; --check only reports which files are out of date
(exit 1), as the tests do.
"""

from __future__ import annotations

import argparse
import sys

from retail_mlops.deploy.lock import requirements_text
from retail_mlops.deploy.services import SERVICES
from retail_mlops.io import atomic_write_text


def main() -> int:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args()
    stale = []
    for svc in SERVICES.values():
        text = requirements_text(svc.packages)
        path = svc.requirements
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            atomic_write_text(path, text)
            print(f"wrote {path.relative_to(svc.path.parent.parent)}")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
