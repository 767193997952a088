"""Bento requirements come from uv.lock: pinned, closed under dependencies, and up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retail_mlops.deploy.lock import locked_requirements, requirements_text
from retail_mlops.deploy.services import SERVICES
from retail_mlops.errors import DataError

LOCK = """
version = 1
requires-python = "==3.11.*"

[[package]]
name = "app"
version = "1.0"
dependencies = [{ name = "Lib_A" }, { name = "winonly", marker = "sys_platform == 'win32'" }]

[package.optional-dependencies]
fast = [{ name = "speedup", extra = ["c"] }]

[[package]]
name = "lib-a"
version = "2.1"
dependencies = [{ name = "base" }]

[[package]]
name = "base"
version = "0.3"

[[package]]
name = "winonly"
version = "5"
dependencies = [{ name = "base" }]

[[package]]
name = "speedup"
version = "9"

[package.optional-dependencies]
c = [{ name = "cffi-ish" }]

[[package]]
name = "cffi-ish"
version = "1.2"

[[package]]
name = "unrelated"
version = "7"
"""


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(LOCK)
    return path


def test_the_closure_is_pinned_at_the_locked_versions(lock: Path) -> None:
    assert locked_requirements(["app"], lock) == [
        "app==1.0",
        "base==0.3",
        "lib-a==2.1",
        "winonly==5 ; (sys_platform == 'win32')",
    ]


def test_extras_pull_in_their_packages_and_their_extras(lock: Path) -> None:
    got = locked_requirements(["app[fast]"], lock)
    assert "speedup==9" in got
    assert "cffi-ish==1.2" in got  # speedup[c], asked for by app's extra
    assert not any(line.startswith("unrelated") for line in got)


def test_an_unconditional_path_drops_the_marker(lock: Path) -> None:
    assert "winonly==5" in locked_requirements(["app", "winonly"], lock)


def test_a_package_missing_from_the_lock_is_named(lock: Path) -> None:
    with pytest.raises(DataError, match=r"'nope' is not in uv\.lock"):
        locked_requirements(["nope"], lock)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_services_requirements_file_is_the_locks(name: str) -> None:
    # stale after a `uv lock`? run: uv run python -m scripts.bento_requirements
    svc = SERVICES[name]
    assert svc.requirements.read_text() == requirements_text(svc.packages)
    pins = dict(
        line.split(" ;")[0].split("==")
        for line in svc.requirements.read_text().splitlines()
        if line and not line.startswith("#")
    )
    for root in svc.packages:
        assert root.split("[")[0] in pins  # every direct need is pinned
    python = yaml.safe_load((svc.path / "bentofile.yaml").read_text())["python"]
    assert python["requirements_txt"] == f"./{svc.folder}/requirements.txt"
    assert "packages" not in python  # no second, hand-written list
