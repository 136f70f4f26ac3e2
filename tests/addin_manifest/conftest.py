"""Fixtures for the add-in tests: a validated deployment config and the npm packages.

The schema checks need the project-local node_modules that ``npm ci`` installs from
package.json. Without it a developer gets a skip that says which command to run; under
``CI=true`` the same situation is a failure, because CI must never pass by not validating.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from addin_manifest.config import AddinConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
APP_MANIFEST_PACKAGE = NODE_MODULES / "@microsoft" / "app-manifest"
CLIENT_ID = "5661fed9-f33d-4e95-b6cf-624a34a2f51d"


def _missing(what: str) -> None:
    message = f"{what}; run `npm ci --no-audit --no-fund` in {REPO_ROOT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def app_manifest_package() -> Path:
    """Root of the installed @microsoft/app-manifest npm package."""
    if not (APP_MANIFEST_PACKAGE / "package.json").is_file():
        _missing(f"{APP_MANIFEST_PACKAGE} is not installed")
    return APP_MANIFEST_PACKAGE


@pytest.fixture(scope="session")
def node() -> str:
    executable = shutil.which("node")
    if executable is None:
        _missing("node is not on PATH")
        raise AssertionError("unreachable")  # pytest.skip/fail raise; keeps mypy-style flow
    return executable


@pytest.fixture
def cfg() -> AddinConfig:
    """A production-like deployment with SSO configured."""
    return AddinConfig.create(
        "https://crm.example.com/sales",
        deployment_id="contoso-prod",
        version="1.4.2",
        client_id=CLIENT_ID,
    )
