"""`python -m configs.stacks register NAME`: register a stack file with ZenML."""

import sys

from configs.stacks import register_stack
from retail_mlops.errors import DataError

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "register":
        sys.exit("usage: python -m configs.stacks register NAME")
    try:
        register_stack(sys.argv[2])
    except DataError as exc:
        sys.exit(f"error: {exc}")
