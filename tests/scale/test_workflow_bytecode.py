"""The worker writes the workflow package's bytecode, so cold episodes do not compile it.

The sandbox imports a workflow's module again for every workflow instance; without a
`.pyc` beside the source each of those imports compiles it (PYTHONDONTWRITEBYTECODE is set
in the image and on these machines).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.runtime import write_workflow_bytecode
from workflows.care_episode import CareEpisode


@pytest.fixture
def package(tmp_path: Path) -> Iterator[type]:
    """A workflow class in a package of its own, on a throwaway path, with no bytecode."""
    root = tmp_path / "bytecode_probe"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "flow.py").write_text("class Flow:\n    pass\n")
    (root / "helper.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    sys.dont_write_bytecode, before = True, sys.dont_write_bytecode
    try:
        from bytecode_probe.flow import Flow  # type: ignore[import-not-found]

        yield Flow
    finally:
        sys.dont_write_bytecode = before
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("bytecode_probe")]:
            del sys.modules[name]


def _cached(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def test_the_package_of_each_workflow_gets_fresh_bytecode(package: type) -> None:
    root = Path(sys.modules[package.__module__].__file__ or "").parent
    sources = sorted(root.glob("*.py"))
    assert not any(_cached(s).exists() for s in sources)  # the import wrote none
    assert write_workflow_bytecode([package])
    for source in sources:
        assert _cached(source).stat().st_mtime >= source.stat().st_mtime, source


def test_an_unwritable_package_is_reported_not_raised(
    package: type, caplog: pytest.LogCaptureFixture
) -> None:
    root = Path(sys.modules[package.__module__].__file__ or "").parent
    (root / "__pycache__").write_text("a file where the cache directory would be")
    assert not write_workflow_bytecode([package])
    assert "could not be written" in caplog.text


def test_the_care_episode_package_has_bytecode_after_a_worker_is_built() -> None:
    write_workflow_bytecode([CareEpisode])
    source = Path(sys.modules[CareEpisode.__module__].__file__ or "")
    assert _cached(source).exists()
