"""A private scratch folder per test.

Not pytest's `tmp_path`: pytest prunes old `/tmp/pytest-of-USER/pytest-N` folders, and
another pytest run on the same machine can remove one under a running embedded server.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="carepath-deploy-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
