"""`python -m scripts.servers start|stop`: the local-servers stack's mlflow server and Redis.

`start` leaves both running on loopback (ports 5000 and 6379 unless RETAIL_MLOPS_MLFLOW_PORT
or REDIS_PORT say otherwise) and prints the variables the stack needs (also written to
.state/servers/env.sh); `stop` stops what `start` started, by PID.
"""

import os
import sys

from retail_mlops.deploy.servers import MLFLOW_PORT, REDIS_PORT, start_servers, stop_servers
from retail_mlops.errors import InfraError
from retail_mlops.paths import state_dir


def main() -> None:
    """Start or stop; one line on failure."""
    if len(sys.argv) != 2 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python -m scripts.servers start|stop")
    try:
        if sys.argv[1] == "start":
            variables = start_servers(
                int(os.environ.get("RETAIL_MLOPS_MLFLOW_PORT", MLFLOW_PORT)),
                int(os.environ.get("REDIS_PORT", REDIS_PORT)),
            )
            for key, value in variables.items():
                print(f"export {key}={value}")
            print(f"# also in {state_dir() / 'servers' / 'env.sh'}: source it, then")
            print("# uv run python run.py stack register local-servers")
        else:
            stopped = stop_servers()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    except InfraError as exc:
        sys.exit(f"environment error: {exc}")


if __name__ == "__main__":
    main()
