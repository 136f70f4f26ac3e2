"""``addin`` commands; mailsync's CLI mounts this group as ``mailsync addin``.

Kept in addin_manifest (which has no secrets and no host of its own) so the manifest can be
produced without the daemon's configuration: everything comes from the options.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from addin_manifest.config import AddinConfig, ManifestConfigError
from addin_manifest.package import build_app_package, manifest_json_text
from addin_manifest.xml_manifest import build_xml_manifest

FORMATS = ("xml", "json", "package")


@click.group("addin")
def addin() -> None:
    """The Outlook add-in: manifests for a deployment."""


@addin.command("manifest")
@click.option(
    "--base-url",
    required=True,
    help="https URL where web serves the add-in and its API, e.g. https://crm.example.com.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="xml",
    show_default=True,
    help="xml: add-in-only manifest; json: unified manifest; package: zip with the unified "
    "manifest and its icons, ready to upload.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write; standard output when omitted (not for --format package).",
)
@click.option(
    "--deployment-id",
    default=None,
    help="Stable name of this deployment; the add-in id is derived from it. Default: the host.",
)
@click.option(
    "--client-id",
    default=None,
    help="Entra ID application (client) id of the add-in, for single sign-on.",
)
@click.option("--addin-version", default=None, help="MAJOR.MINOR.PATCH; default: mailsync's.")
@click.option("--display-name", default="mailsync CRM", show_default=True)
@click.option("--provider-name", default="mailsync", show_default=True)
@click.option("--support-url", default=None, help="Default: the base URL.")
@click.option("--privacy-url", default=None, help="Default: the base URL.")
@click.option("--terms-url", default=None, help="Default: the base URL.")
@click.option(
    "--allow-http-localhost",
    is_flag=True,
    default=False,
    help="Development only: accept http://localhost (Office itself still wants https).",
)
def manifest(
    base_url: str,
    output_format: str,
    output: Path | None,
    deployment_id: str | None,
    client_id: str | None,
    addin_version: str | None,
    display_name: str,
    provider_name: str,
    support_url: str | None,
    privacy_url: str | None,
    terms_url: str | None,
    allow_http_localhost: bool,
) -> None:
    """Write the add-in manifest for one deployment."""
    try:
        cfg = AddinConfig.create(
            base_url,
            deployment_id=deployment_id,
            version=addin_version,
            client_id=client_id,
            display_name=display_name,
            provider_name=provider_name,
            allow_http_localhost=allow_http_localhost,
            support_url=support_url,
            privacy_url=privacy_url,
            terms_url=terms_url,
        )
        content = _render(cfg, output_format)
    except ManifestConfigError as error:
        raise click.BadParameter(
            f"{error.problem}. {error.fix}", param_hint=error.option
        ) from error
    if isinstance(content, bytes):
        if output is None:
            raise click.UsageError("--format package writes a zip: pass -o FILE.zip")
        output.write_bytes(content)
    elif output is None:
        sys.stdout.write(content)
    else:
        output.write_text(content, encoding="utf-8")
    if output is not None:
        click.echo(
            f"wrote {output_format} manifest for add-in {cfg.addin_id} to {output}", err=True
        )


def _render(cfg: AddinConfig, output_format: str) -> str | bytes:
    if output_format == "package":
        return build_app_package(cfg)
    if output_format == "json":
        return manifest_json_text(cfg)
    return build_xml_manifest(cfg)
