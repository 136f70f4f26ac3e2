"""Hostile or broken HTTP gets a clean 4xx; CORS, security headers, health and files."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.web.conftest import PUBLIC_URL, person, web_settings
from web.app import create_app


def test_hostile_bodies_get_4xx_never_500(
    idp: EntraIdentityProvider, session: Session, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN an app with a small body limit and a signed-in user
    app = create_app(web_settings(idp, max_body_bytes=4096), session_factory)
    seller = person(session, idp)
    json_headers = {**seller.headers, "Content-Type": "application/json"}
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        cases = {
            "huge": client.post(
                "/api/v1/contacts", content=b"{" + b" " * 10_000 + b"}", headers=json_headers
            ),
            "huge_chunked": client.post(
                "/api/v1/contacts", content=iter([b"[" * 3000, b"1" * 3000]), headers=json_headers
            ),
            "bad_json": client.post(
                "/api/v1/contacts", content=b'{"email": ', headers=json_headers
            ),
            "bad_utf8": client.post(
                "/api/v1/contacts", content=b'{"email": "\xff\xfe@a.example"}', headers=json_headers
            ),
            "lone_surrogate": client.post(
                "/api/v1/contacts",
                content=b'{"email": "a@acme.example", "title": "\\ud800"}',
                headers=json_headers,
            ),
            "nul": client.post(
                "/api/v1/contacts",
                content=b'{"email": "a@acme.example", "title": "a\\u0000b"}',
                headers=json_headers,
            ),
            "not_an_object": client.post(
                "/api/v1/contacts", json=[1, 2, 3], headers=seller.headers
            ),
            "deep": client.post(
                "/api/v1/contacts", content=b"[" * 2000 + b"]" * 2000, headers=json_headers
            ),
            "huge_id": client.delete(
                "/api/v1/items/links",
                params={"itemId": "x", "targetKind": "account", "targetId": str(10**30)},
                headers=seller.headers,
            ),
            "nul_query": client.get(
                "/api/v1/records/search", params={"q": "ab\x00"}, headers=seller.headers
            ),
            "sqlish_lookup": client.get(
                "/api/v1/lookup",
                params={"address": "x@y.example' OR 1=1 --"},
                headers=seller.headers,
            ),
            "too_many_addresses": client.get(
                "/api/v1/lookup",
                params={"address": [f"a{n}@acme.example" for n in range(51)]},
                headers=seller.headers,
            ),
            "wrong_type": client.post(
                "/api/v1/contacts",
                content=b"email=a",
                headers={**seller.headers, "Content-Type": "text/plain"},
            ),
        }
    # THEN every answer is a clean 4xx with a JSON reason
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        assert response.json()["detail"], name
    assert cases["huge"].status_code == 413
    assert cases["huge_chunked"].status_code == 413


def test_cors_answers_our_host_and_office_only(client: TestClient) -> None:
    def preflight(origin: str) -> str | None:
        response = client.options(
            "/api/v1/lookup",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        return response.headers.get("access-control-allow-origin")

    assert preflight(PUBLIC_URL) == PUBLIC_URL
    assert preflight("https://outlook.office.com") == "https://outlook.office.com"
    assert preflight("https://evil.example") is None


def test_security_headers_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "store": "ok"}
    api = client.get("/api/v1/me")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    assert api.headers["strict-transport-security"].startswith("max-age=")
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/lookup" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_the_addin_files_and_office_js_are_served_framable_by_office(client: TestClient) -> None:
    page = client.get("/addin/taskpane.html")
    assert page.status_code == 200
    assert "office-js/office.js" in page.text
    assert "x-frame-options" not in page.headers
    assert "https://outlook.office.com" in page.headers["content-security-policy"]
    office = client.get("/addin/office-js/office.js")
    assert office.status_code == 200
    assert "javascript" in office.headers["content-type"]
    assert client.get("/addin/commands.js").status_code == 200
    assert client.get("/addin/../pyproject.toml").status_code == 404
