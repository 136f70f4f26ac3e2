"""Bad deployment input is refused with a message naming the option and the fix.

GIVEN a base URL or id that cannot safely go into a manifest
WHEN a config is created from it
THEN ManifestConfigError names the offending option, and nothing is built.
"""

from __future__ import annotations

import uuid

import pytest

from addin_manifest.config import AddinConfig, ManifestConfigError, parse_base_url

from .conftest import CLIENT_ID


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://crm.example.com", "not https"),
        ("ftp://crm.example.com", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("JavaScript://crm.example.com/%0aalert(1)", "scheme 'javascript'"),
        ("data:text/html,<script>", "scheme 'data'"),
        ("crm.example.com", "scheme '(none)'"),
        ("https://crm.example.com/?next=evil", "query string"),
        ("https://crm.example.com/?", "query string"),
        ("https://crm.example.com/#frag", "fragment"),
        ("https://user:secret@crm.example.com", "credentials"),
        ("https://", "has no host"),
        ("https://crm.example.com:99999", "not a valid URL"),
        ("https://crm example.com", "whitespace"),
        (" https://crm.example.com", "whitespace"),
        ("https://crm.example.com/\nx", "whitespace or control"),
        ("https://bad_host!.example.com", "not a valid DNS name"),
        ('https://crm.example.com/a"b', "path"),
        ("https://crm.example.com/<x>", "path"),
        ("https://crm.example.com/a/../b", "path"),
        ("", "is empty"),
        ("https://crm.example.com/" + "a" * 1100, "characters long"),
    ],
)
def test_hostile_base_urls_are_refused_with_a_clear_error(base_url: str, expected: str) -> None:
    # GIVEN a hostile or unusable base URL / WHEN parsed / THEN a clear, named error
    with pytest.raises(ManifestConfigError) as caught:
        AddinConfig.create(base_url, deployment_id="contoso")
    assert caught.value.option == "--base-url"
    assert expected in str(caught.value)


def test_plain_http_localhost_needs_the_explicit_development_flag() -> None:
    # GIVEN http on loopback without the flag / THEN refused, and the error names the flag
    with pytest.raises(ManifestConfigError, match="--allow-http-localhost"):
        parse_base_url("http://localhost:8000")
    # WHEN the developer opts in / THEN it is accepted, but only for loopback hosts
    assert parse_base_url("http://localhost:8000", allow_http_localhost=True).origin == (
        "http://localhost:8000"
    )
    assert parse_base_url("http://[::1]:8000", allow_http_localhost=True).origin == (
        "http://[::1]:8000"
    )
    with pytest.raises(ManifestConfigError, match="not https"):
        parse_base_url("http://crm.example.com", allow_http_localhost=True)
    with pytest.raises(ManifestConfigError, match="not https"):
        parse_base_url("http://localhost.example.com", allow_http_localhost=True)


def test_base_url_is_normalised_to_origin_and_path_prefix() -> None:
    base = parse_base_url("HTTPS://CRM.Example.com:8443/sales/")
    assert base.origin == "https://crm.example.com:8443"
    assert (
        base.join("addin/taskpane.html") == "https://crm.example.com:8443/sales/addin/taskpane.html"
    )
    assert base.domain == "crm.example.com:8443"


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"deployment_id": "Contoso Prod"}, "--deployment-id"),
        ({"deployment_id": "-contoso"}, "--deployment-id"),
        ({"deployment_id": "../etc"}, "--deployment-id"),
        ({"deployment_id": "x" * 65}, "--deployment-id"),
        ({"deployment_id": ""}, "--deployment-id"),
        ({"client_id": "not-a-guid"}, "--client-id"),
        ({"client_id": CLIENT_ID + "0"}, "--client-id"),
        ({"version": "1.0"}, "--addin-version"),
        ({"version": "1.0.0.0"}, "--addin-version"),
        ({"version": "01.2.3"}, "--addin-version"),
        ({"version": "1.2.123456"}, "--addin-version"),
        ({"display_name": "x" * 31}, "--display-name"),
        ({"display_name": "  "}, "--display-name"),
        ({"display_name": "bell\x07"}, "--display-name"),
        ({"privacy_url": "http://privacy.example.com"}, "--privacy-url"),
        ({"terms_url": "https://example.com/terms?x=1"}, "--terms-url"),
    ],
)
def test_bad_ids_and_names_are_refused_with_the_option_named(
    kwargs: dict[str, str], option: str
) -> None:
    with pytest.raises(ManifestConfigError) as caught:
        AddinConfig.create("https://crm.example.com", **kwargs)  # type: ignore[arg-type]
    assert caught.value.option == option
    assert caught.value.fix  # every error says how to fix it


def test_addin_id_is_a_stable_guid_derived_from_the_deployment_id() -> None:
    # GIVEN the same deployment id on two different runs and hosts
    first = AddinConfig.create("https://a.example.com", deployment_id="contoso-prod")
    again = AddinConfig.create("https://b.example.com", deployment_id="contoso-prod")
    other = AddinConfig.create("https://a.example.com", deployment_id="contoso-test")
    # THEN the id is the same GUID; a different deployment gets a different one
    assert first.addin_id == again.addin_id != other.addin_id
    assert uuid.UUID(first.addin_id).version == 5


def test_deployment_id_defaults_to_the_host() -> None:
    cfg = AddinConfig.create("https://crm.example.com")
    assert cfg.deployment_id == "crm.example.com"
    local = AddinConfig.create("http://127.0.0.1:8000", allow_http_localhost=True)
    assert local.deployment_id == "localhost"


def test_sso_resource_follows_office_convention() -> None:
    cfg = AddinConfig.create("https://crm.example.com", client_id=CLIENT_ID.upper())
    assert cfg.client_id == CLIENT_ID
    assert cfg.sso_resource == f"api://crm.example.com/{CLIENT_ID}"
    assert AddinConfig.create("https://crm.example.com").sso_resource is None
