"""The real msal library against the sandbox's identity endpoints, over real HTTPS."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import msal
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from mailsync.sandbox import SandboxHandle

GRAPH = ["https://graph.microsoft.com/.default"]
Fresh = Callable[..., AbstractContextManager[SandboxHandle]]


def _inbox(sb: SandboxHandle, token: str, mailbox: str | None = None) -> int:
    who = f"users/{mailbox}" if mailbox else "me"
    with sb.httpx_client() as http:
        response = http.get(
            f"{sb.graph_url}/{who}/mailFolders", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


def test_client_credentials_token_opens_graph(shared_sandbox: SandboxHandle) -> None:
    # GIVEN msal's confidential client with the sandbox's secret
    app = shared_sandbox.msal_app()
    # WHEN it asks for an app-only Graph token
    result = app.acquire_token_for_client(scopes=GRAPH)
    # THEN the token opens every mailbox, and msal serves the second call from its cache
    assert result["token_type"] == "Bearer", result
    assert _inbox(shared_sandbox, result["access_token"], shared_sandbox.mailboxes[1]) == 200
    again = app.acquire_token_for_client(scopes=GRAPH)
    assert again["access_token"] == result["access_token"]
    assert again.get("token_source") == "cache"


def test_wrong_secret_and_missing_token_are_refused(shared_sandbox: SandboxHandle) -> None:
    bad = shared_sandbox.msal_app(client_credential="not-the-secret")
    result = bad.acquire_token_for_client(scopes=GRAPH)
    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]
    with shared_sandbox.httpx_client() as http:
        response = http.get(
            f"{shared_sandbox.graph_url}/users/{shared_sandbox.mailboxes[0]}/mailFolders"
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_instance_discovery_is_served_locally(shared_sandbox: SandboxHandle) -> None:
    # GIVEN msal pointed at the sandbox's own instance discovery endpoint (never the internet)
    app = msal.ConfidentialClientApplication(
        shared_sandbox.client_id,
        client_credential=shared_sandbox.client_secret,
        authority=shared_sandbox.authority,
        http_client=shared_sandbox.requests_session(),
        instance_discovery=f"{shared_sandbox.base_url}/common/discovery/instance",
    )
    assert "access_token" in app.acquire_token_for_client(scopes=GRAPH)


def test_token_is_a_jwt_the_jwks_verifies(shared_sandbox: SandboxHandle) -> None:
    token = shared_sandbox.app_token()
    with shared_sandbox.httpx_client() as http:
        config = http.get(
            f"{shared_sandbox.authority}/v2.0/.well-known/openid-configuration"
        ).json()
        jwks = http.get(config["jwks_uri"]).json()
    head, body, sig = token.split(".")
    key = jwks["keys"][0]

    def b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64(key["e"]), "big"), int.from_bytes(b64(key["n"]), "big")
    ).public_key()
    public.verify(b64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims = json.loads(b64(body))
    assert claims["iss"] == config["issuer"]
    assert claims["aud"] == "https://graph.microsoft.com"
    assert json.loads(b64(head))["kid"] == key["kid"]


def test_expired_token_is_refused(fresh: Fresh) -> None:
    # GIVEN a sandbox that issues tokens already at the end of their life
    with fresh(token_lifetime=0) as sb:
        token = sb.app_token()
        # THEN Graph answers 401 and says why
        with sb.httpx_client() as http:
            response = http.get(
                f"{sb.graph_url}/users/{sb.mailboxes[0]}/mailFolders",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]


def test_revoked_tokens_fail_until_a_new_one_is_fetched(fresh: Fresh) -> None:
    with fresh() as sb:
        app = sb.msal_app()
        token = app.acquire_token_for_client(scopes=GRAPH)["access_token"]
        assert _inbox(sb, token, sb.mailboxes[0]) == 200
        # WHEN the administrator revokes everything issued so far
        assert sb.revoke_tokens() >= 1
        # THEN the cached token is refused, and a token fetched anew works
        assert _inbox(sb, token, sb.mailboxes[0]) == 401
        fresh_token = app.acquire_token_for_client(scopes=GRAPH, claims_challenge="{}")
        assert fresh_token["access_token"] != token
        assert _inbox(sb, fresh_token["access_token"], sb.mailboxes[0]) == 200


def _certificate() -> tuple[bytes, bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailsync-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, cert.public_bytes(serialization.Encoding.PEM), public_pem


def test_certificate_credential_is_verified(fresh: Fresh) -> None:
    private_pem, cert_pem, public_pem = _certificate()
    other_private, other_cert, _ = _certificate()
    with fresh(client_public_key_pem=public_pem) as sb:
        good = sb.msal_app(
            client_credential={
                "private_key": private_pem.decode(),
                "public_certificate": cert_pem.decode(),
            }
        )
        assert "access_token" in good.acquire_token_for_client(scopes=GRAPH)
        wrong = sb.msal_app(
            client_credential={
                "private_key": other_private.decode(),
                "public_certificate": other_cert.decode(),
            }
        )
        result: dict[str, Any] = wrong.acquire_token_for_client(scopes=GRAPH)
        assert result["error"] == "invalid_client"


def test_device_code_flow_gives_a_delegated_token_for_one_user(fresh: Fresh) -> None:
    with fresh(device_code_interval=0, device_code_pending_polls=1) as sb:
        app = msal.PublicClientApplication(
            sb.client_id,
            authority=sb.authority,
            http_client=sb.requests_session(),
            instance_discovery=False,
        )
        # GIVEN a started device flow, shown to the user
        flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/Mail.Read"])
        assert flow["user_code"] in flow["message"]
        # WHEN the second mailbox's owner approves it
        sb.approve_device_code(flow["user_code"], sb.mailboxes[1])
        result = app.acquire_token_by_device_flow(flow)
        # THEN msal knows the account, and the token opens only that user's mailbox
        assert "access_token" in result, result
        assert result["id_token_claims"]["preferred_username"] == sb.mailboxes[1]
        assert app.get_accounts()[0]["username"] == sb.mailboxes[1]
        assert _inbox(sb, result["access_token"]) == 200
        assert _inbox(sb, result["access_token"], sb.mailboxes[0]) == 403
        # AND the refresh token works through msal's silent path
        silent = app.acquire_token_silent(
            ["https://graph.microsoft.com/Mail.Read"],
            account=app.get_accounts()[0],
            force_refresh=True,
        )
        assert silent is not None and "access_token" in silent


def test_device_code_pending_then_declined(fresh: Fresh) -> None:
    # (interval 1: msal checks its exit condition only between waits)
    with fresh(device_code_interval=1, device_code_pending_polls=5) as sb:
        app = msal.PublicClientApplication(
            sb.client_id,
            authority=sb.authority,
            http_client=sb.requests_session(),
            instance_discovery=False,
        )
        flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/Mail.Read"])
        first = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)
        assert first["error"] == "authorization_pending"
        sb.approve_device_code(flow["user_code"], deny=True)
        assert app.acquire_token_by_device_flow(flow)["error"] == "authorization_declined"
