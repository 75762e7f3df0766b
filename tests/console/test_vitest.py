"""The front end's unit tests (Vitest: i18n, tile maths, back-off, registries, coordinates) as part of pytest."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.common import missing
from tests.console.conftest import FRONTEND


def test_frontend_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed (Node.js 20 + npm)")
    if not (FRONTEND / "node_modules" / ".bin" / "vitest").exists():
        missing("frontend/node_modules is missing: run make bootstrap (npm ci --prefix frontend)")
    result = subprocess.run(
        [npm, "--prefix", str(FRONTEND), "run", "test:unit", "--silent"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_frontend_typechecks() -> None:
    npm = shutil.which("npm")
    if npm is None or not (FRONTEND / "node_modules" / ".bin" / "tsc").exists():
        missing("npm or frontend/node_modules missing")
    result = subprocess.run(
        [npm, "--prefix", str(FRONTEND), "run", "typecheck", "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
