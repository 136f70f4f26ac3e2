"""``addin manifest`` writes each format and turns bad input into a usage error (exit 2)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from addin_manifest.cli import addin

from .conftest import CLIENT_ID


def test_writes_xml_json_and_package(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["manifest", "--base-url", "https://crm.example.com", "--client-id", CLIENT_ID]
    xml_file, json_file, zip_file = (tmp_path / n for n in ("m.xml", "m.json", "app.zip"))

    result = runner.invoke(addin, [*base, "--format", "xml", "-o", str(xml_file)])
    assert result.exit_code == 0, result.output
    root = etree.fromstring(xml_file.read_bytes())
    assert etree.QName(root).localname == "OfficeApp"

    result = runner.invoke(addin, [*base, "--format", "json", "-o", str(json_file)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(json_file.read_text("utf-8"))
    assert manifest["id"] == root.findtext("{*}Id")

    result = runner.invoke(addin, [*base, "--format", "package", "-o", str(zip_file)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(zip_file) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == manifest


def test_stdout_when_no_output_file() -> None:
    result = CliRunner().invoke(addin, ["manifest", "--base-url", "https://crm.example.com"])
    assert result.exit_code == 0
    assert result.output.startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_bad_base_url_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    target = tmp_path / "never.xml"
    result = CliRunner().invoke(
        addin, ["manifest", "--base-url", "http://crm.example.com", "-o", str(target)]
    )
    assert result.exit_code == 2
    assert "--base-url" in result.output and "https" in result.output
    assert not target.exists()  # nothing half-written


def test_http_localhost_needs_the_flag_and_xml() -> None:
    runner = CliRunner()
    args = ["manifest", "--base-url", "http://localhost:8000"]
    refused = runner.invoke(addin, args)
    assert refused.exit_code == 2 and "--allow-http-localhost" in refused.output
    accepted = runner.invoke(addin, [*args, "--allow-http-localhost"])
    assert accepted.exit_code == 0, accepted.output
    json_refused = runner.invoke(addin, [*args, "--allow-http-localhost", "--format", "json"])
    assert json_refused.exit_code == 2 and "--format xml" in json_refused.output


def test_package_needs_an_output_file() -> None:
    result = CliRunner().invoke(
        addin, ["manifest", "--base-url", "https://crm.example.com", "--format", "package"]
    )
    assert result.exit_code == 2 and "-o" in result.output


def test_bad_ids_are_usage_errors() -> None:
    runner = CliRunner()
    base = ["manifest", "--base-url", "https://crm.example.com"]
    bad_client = runner.invoke(addin, [*base, "--client-id", "nope"])
    assert bad_client.exit_code == 2 and "--client-id" in bad_client.output
    bad_deployment = runner.invoke(addin, [*base, "--deployment-id", "Not OK"])
    assert bad_deployment.exit_code == 2 and "--deployment-id" in bad_deployment.output
