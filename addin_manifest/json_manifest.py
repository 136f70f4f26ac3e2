"""The unified app manifest for Microsoft 365 (JSON): Microsoft's format for new Outlook,
Outlook on the web and classic Outlook connected to Microsoft 365.

``MANIFEST_VERSION`` must be a version whose schema ships in the npm package
``@microsoft/app-manifest`` pinned in package.json: the tests validate against that file
offline, and Microsoft's own validator only stays offline when ``$schema`` names a version it
carries. 1.30 is the latest released version Microsoft's Office add-in docs point to.

The send events (Smart Alerts) are ``extensions[].autoRunEvents`` whose ``actionId``s name
``executeFunction`` actions of the commands runtime: the same page as the Track in CRM button,
plus ``code.script``, the JavaScript file classic Outlook on Windows loads instead of the page.
That runtime and the events require Mailbox 1.12 (``MAILBOX_SEND_EVENTS_VERSION``); the
extension itself keeps the lower base, so older clients still get the commands and the pane.
Both send events live in one runtime because Outlook allows one runtime per add-in for
event-based activation, and sharing it with the function command shares its code.

The app package (a zip of this file with ``color.png`` and ``outline.png``) is what gets
uploaded; :func:`addin_manifest.package.build_app_package` writes it.
"""

from __future__ import annotations

from typing import Any

from addin_manifest.addin import (
    COMMANDS,
    GROUP_LABEL,
    LAUNCH_EVENTS,
    MAILBOX_MIN_VERSION,
    MAILBOX_SEND_EVENTS_VERSION,
    PACKAGE_COLOR_ICON,
    PACKAGE_OUTLINE_ICON,
    PERMISSION_JSON,
    RIBBON_ICON_SIZES,
    SEND_MODE,
    SURFACES,
    ActionKind,
    AddinUrls,
    Command,
)
from addin_manifest.config import AddinConfig, ManifestConfigError

MANIFEST_VERSION = "1.30"
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}"
    "/MicrosoftTeams.schema.json"
)
ACCENT_COLOR = "#1F5F8B"
TASKPANE_RUNTIME_ID = "TaskPaneRuntime"
COMMANDS_RUNTIME_ID = "CommandsRuntime"
TASKPANE_VIEW = "crm"

JsonObject = dict[str, Any]


def _capabilities(version: str = MAILBOX_MIN_VERSION) -> list[JsonObject]:
    return [{"name": "Mailbox", "minVersion": version}]


def _icons(urls: AddinUrls) -> list[JsonObject]:
    return [{"size": size, "url": urls.icons[size]} for size in RIBBON_ICON_SIZES]


def _runtimes(urls: AddinUrls) -> list[JsonObject]:
    pane_actions: list[JsonObject] = []
    function_actions: list[JsonObject] = []
    for command in COMMANDS:
        if command.kind is ActionKind.SHOW_TASKPANE:
            pane_actions.append(
                {
                    "id": command.action_id,
                    "type": "openPage",
                    "view": TASKPANE_VIEW,
                    "pinnable": True,
                }
            )
        else:
            function_actions.append(
                {"id": command.action_id, "type": "executeFunction", "displayName": command.label}
            )
    for event in LAUNCH_EVENTS:
        function_actions.append({"id": event.function_name, "type": "executeFunction"})
    return [
        {
            "requirements": {"capabilities": _capabilities()},
            "id": TASKPANE_RUNTIME_ID,
            "type": "general",
            "code": {"page": urls.taskpane},
            "lifetime": "short",
            "actions": pane_actions,
        },
        {
            "requirements": {"capabilities": _capabilities(MAILBOX_SEND_EVENTS_VERSION)},
            "id": COMMANDS_RUNTIME_ID,
            "type": "general",
            "code": {"page": urls.commands_page, "script": urls.commands_script},
            "lifetime": "short",
            "actions": function_actions,
        },
    ]


def _auto_run_events() -> list[JsonObject]:
    return [
        {
            "requirements": {"capabilities": _capabilities(MAILBOX_SEND_EVENTS_VERSION)},
            "events": [
                {
                    "type": event.json_type,
                    "actionId": event.function_name,
                    "options": {"sendMode": SEND_MODE.json},
                }
                for event in LAUNCH_EVENTS
            ],
        }
    ]


def _control(command: Command, urls: AddinUrls) -> JsonObject:
    return {
        "id": f"mailsync.{command.key}",
        "type": "button",
        "label": command.label,
        "icons": _icons(urls),
        "supertip": {"title": command.label, "description": command.tooltip},
        "actionId": command.action_id,
    }


def _ribbons(urls: AddinUrls) -> list[JsonObject]:
    return [
        {
            "contexts": [surface.ribbon_context for surface in SURFACES],
            "tabs": [
                {
                    "builtInTabId": "TabDefault",
                    "groups": [
                        {
                            "id": "mailsync.Group",
                            "label": GROUP_LABEL,
                            "icons": _icons(urls),
                            "controls": [_control(command, urls) for command in COMMANDS],
                        }
                    ],
                }
            ],
        }
    ]


def build_json_manifest(cfg: AddinConfig) -> dict[str, Any]:
    """The unified manifest for one deployment, as a JSON-ready dict.

    Refuses a plain-http development base URL: the schema types runtime pages as
    ``secureHttpUrl``, so such a manifest could never be installed.
    """
    if cfg.base.scheme != "https":
        raise ManifestConfigError(
            "--base-url",
            "the unified manifest requires https pages (http is allowed for XML only)",
            "Serve the development host over https, or use --format xml.",
        )
    urls = AddinUrls.for_config(cfg)
    manifest: JsonObject = {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "id": cfg.addin_id,
        "version": cfg.version,
        "name": {"short": cfg.display_name, "full": cfg.display_name},
        "description": {"short": cfg.short_description, "full": cfg.description},
        "developer": {
            "name": cfg.provider_name,
            "websiteUrl": cfg.support_url,
            "privacyUrl": cfg.privacy_url,
            "termsOfUseUrl": cfg.terms_url,
        },
        "icons": {"outline": PACKAGE_OUTLINE_ICON, "color": PACKAGE_COLOR_ICON},
        "accentColor": ACCENT_COLOR,
        "localizationInfo": {"defaultLanguageTag": "en-us"},
        "validDomains": [cfg.base.domain],
        "authorization": {
            "permissions": {"resourceSpecific": [{"name": PERMISSION_JSON, "type": "Delegated"}]}
        },
        "extensions": [
            {
                "requirements": {"scopes": ["mail"], "capabilities": _capabilities()},
                "runtimes": _runtimes(urls),
                "ribbons": _ribbons(urls),
                "autoRunEvents": _auto_run_events(),
                # Older Office shows these as the add-in's icon (XML IconUrl and
                # HighResolutionIconUrl). The schema only knows ribbon sizes, so the 128 px
                # image is declared with size 64, exactly as Microsoft's sample does.
                "alternates": [
                    {
                        "alternateIcons": {
                            "icon": {"size": 64, "url": urls.icons[64]},
                            "highResolutionIcon": {"size": 64, "url": urls.icons[128]},
                        }
                    }
                ],
            }
        ],
    }
    if cfg.client_id is not None and cfg.sso_resource is not None:
        manifest["webApplicationInfo"] = {"id": cfg.client_id, "resource": cfg.sso_resource}
    return manifest
