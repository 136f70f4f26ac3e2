"""The unified manifest validates against the schema Microsoft ships in @microsoft/app-manifest.

Two validators, because they fail differently: the Python ``jsonschema`` check reads the schema
file straight from node_modules and reports precise paths; Microsoft's own validator (ajv, run
with node, network disabled) is what Microsoft's tooling runs. A deliberately broken manifest
must fail both, so a green run means "valid", not "nothing was checked".
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from addin_manifest.config import AddinConfig, ManifestConfigError
from addin_manifest.json_manifest import MANIFEST_VERSION, SCHEMA_URL, build_json_manifest

from .conftest import REPO_ROOT

NODE_VALIDATOR = Path(__file__).with_name("validate_unified_manifest.js")
SCHEMA_PREFIX = "https://developer.microsoft.com/"


def _schema_file(package: Path, schema_url: str) -> Path:
    assert schema_url.startswith(SCHEMA_PREFIX)
    return package / "build" / schema_url.removeprefix(SCHEMA_PREFIX)


def _schema_errors(package: Path, manifest: dict[str, Any]) -> list[str]:
    schema = json.loads(_schema_file(package, manifest["$schema"]).read_text("utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def _microsoft_validator_errors(node: str, manifest: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    completed = subprocess.run(
        [node, str(NODE_VALIDATOR), str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    errors: list[str] = json.loads(completed.stdout)
    return errors


@pytest.fixture(params=["sso", "no-sso", "https-localhost"])
def deployment(request: pytest.FixtureRequest, cfg: AddinConfig) -> AddinConfig:
    if request.param == "sso":
        return cfg
    if request.param == "no-sso":
        return AddinConfig.create("https://crm.example.com")
    return AddinConfig.create("https://localhost:3000")


def test_schema_named_by_the_manifest_ships_in_the_npm_package(
    app_manifest_package: Path,
) -> None:
    # GIVEN the $schema we emit / THEN the package carries it, so validation stays offline
    schema_file = _schema_file(app_manifest_package, SCHEMA_URL)
    assert schema_file.is_file(), f"{schema_file} missing: pick a version the package ships"
    schema = json.loads(schema_file.read_text("utf-8"))
    assert schema["properties"]["manifestVersion"].get("const", MANIFEST_VERSION) == (
        MANIFEST_VERSION
    )


def test_json_manifest_validates_against_the_shipped_schema(
    app_manifest_package: Path, deployment: AddinConfig
) -> None:
    manifest = build_json_manifest(deployment)
    assert _schema_errors(app_manifest_package, manifest) == []


def test_json_manifest_passes_microsofts_validator_offline(
    app_manifest_package: Path, node: str, cfg: AddinConfig, tmp_path: Path
) -> None:
    assert _microsoft_validator_errors(node, build_json_manifest(cfg), tmp_path) == []


def _break(manifest: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(manifest)
    del broken["developer"]
    broken["extensions"][0]["ribbons"][0]["contexts"].append("mailbox")
    return broken


def test_a_broken_manifest_fails_both_validators(
    app_manifest_package: Path, node: str, cfg: AddinConfig, tmp_path: Path
) -> None:
    # GIVEN a manifest without a required field and with an unknown ribbon context
    broken = _break(build_json_manifest(cfg))
    # THEN both validators report both problems
    python_errors = _schema_errors(app_manifest_package, broken)
    assert any("'developer' is a required property" in error for error in python_errors)
    assert any("mailbox" in error for error in python_errors)
    node_errors = _microsoft_validator_errors(node, broken, tmp_path)
    assert any("developer" in error for error in node_errors)
    assert any("/contexts/4" in error for error in node_errors)


def test_plain_http_development_url_is_refused_for_the_unified_manifest() -> None:
    # GIVEN a development config on http://localhost (accepted for the XML manifest)
    dev = AddinConfig.create("http://localhost:8000", allow_http_localhost=True)
    # WHEN the unified manifest is built / THEN a clear error, since its schema demands https
    with pytest.raises(ManifestConfigError, match="--format xml"):
        build_json_manifest(dev)
