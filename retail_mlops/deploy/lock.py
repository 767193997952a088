"""Pinned requirements of a service from the project's one lock (uv.lock).

A Bento lists the Python packages its container installs. Hand-copied versions drift from what
the tests ran; an unpinned one (pyarrow was) takes whatever is newest on the day of the build.
So each service names only its direct needs (`deploy.services.Service.packages`) and this module
walks uv.lock from them: every package they pull in, at the locked version, with the lock's
environment markers. The result is committed as the service's requirements.txt (the bentofile
points at it), and a test holds the file equal to the lock.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from retail_mlops.errors import DataError
from retail_mlops.paths import PROJECT_ROOT

LOCK = PROJECT_ROOT / "uv.lock"
_ROOT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[(?P<extras>[^\]]+)\])?$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_requirements(roots: tuple[str, ...] | list[str], lock: Path = LOCK) -> list[str]:
    """`name==version[ ; marker]` for `roots` and everything they need, sorted by name.

    `roots` are package names, optionally with [extras]. A package reached only through an
    environment marker keeps the marker; its own needs are listed as they are (a superset).

    Raises:
        DataError: If a root is not in the lock (add it to pyproject.toml and `uv lock`).
    """
    packages: dict[str, dict[str, Any]] = {
        _normal(p["name"]): p for p in tomllib.loads(lock.read_text())["package"]
    }
    markers: dict[str, set[str]] = {}
    pending: list[tuple[str, tuple[str, ...], str | None]] = []
    for root in roots:
        match = _ROOT.match(root.strip())
        if not match or _normal(match["name"]) not in packages:
            raise DataError(
                f"{root!r} is not in {lock.name}: add it to pyproject.toml, then uv lock"
            )
        extras = tuple(e.strip() for e in (match["extras"] or "").split(",") if e.strip())
        pending.append((_normal(match["name"]), extras, None))
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while pending:
        name, extras, marker = pending.pop()
        # one requirement line per package: unconditional wins over any marker
        if marker is None:
            markers[name] = set()
        elif name not in markers or markers[name]:
            markers.setdefault(name, set()).add(marker)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            pending.append((_normal(dep["name"]), tuple(dep.get("extra", [])), dep.get("marker")))
    lines = []
    for name in sorted(markers):
        pin = f"{packages[name]['name']}=={packages[name]['version']}"
        conditions = sorted(markers[name])
        lines.append(
            pin if not conditions else f"{pin} ; " + " or ".join(f"({c})" for c in conditions)
        )
    return lines


def requirements_text(roots: tuple[str, ...] | list[str], lock: Path = LOCK) -> str:
    """The requirements.txt of a service: a header naming its source, then the pins."""
    header = (
        "# Generated from uv.lock by `uv run python -m scripts.bento_requirements`; do not edit.\n"
        f"# Direct needs: {', '.join(roots)}\n"
    )
    return header + "".join(f"{line}\n" for line in locked_requirements(roots, lock))
