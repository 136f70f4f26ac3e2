"""The XML and the JSON manifest describe the same add-in.

Each manifest is read back independently (parsed XML, plain dict) into one neutral summary:
id, name, version, permission, requirements, surfaces, commands with their actions, send
events (type, handler, send mode, the runtime's page and script), page URLs, icons and SSO.
Any difference means Outlook users would get a different add-in depending on which manifest
their admin deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from addin_manifest.addin import ICON_SIZES
from addin_manifest.config import AddinConfig
from addin_manifest.json_manifest import build_json_manifest
from addin_manifest.xml_manifest import (
    NS_BASIC_TYPES,
    NS_OFFICEAPP,
    NS_VERSION_OVERRIDES_1_0,
    NS_VERSION_OVERRIDES_1_1,
    build_xml_manifest,
)

from .conftest import CLIENT_ID

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SURFACE_OF_CONTEXT = {
    "mailRead": "MessageReadCommandSurface",
    "mailCompose": "MessageComposeCommandSurface",
    "meetingDetailsOrganizer": "AppointmentOrganizerCommandSurface",
    "meetingDetailsAttendee": "AppointmentAttendeeCommandSurface",
}
PERMISSION_OF_SCOPE = {"MailboxItem.ReadWrite.User": "ReadWriteItem"}
ACTION_OF_TYPE = {"executeFunction": "ExecuteFunction", "openPage": "ShowTaskpane"}
EVENT_OF_TYPE = {"messageSending": "OnMessageSend", "appointmentSending": "OnAppointmentSend"}
SEND_MODE_OF_OPTION = {"promptUser": "PromptUser", "softBlock": "SoftBlock", "block": "Block"}


@dataclass(frozen=True)
class Summary:
    addin_id: str
    name: str
    version: str
    permission: str
    mailbox_min_version: str
    send_events_min_version: str
    # (event, handler function, send mode, runtime page, runtime script)
    send_events: frozenset[tuple[str, str, str, str, str]]
    surfaces: frozenset[str]
    # (label, action kind, function name or page URL) per button, per surface
    commands: frozenset[tuple[str, tuple[tuple[str, str, str], ...]]]
    function_file: str
    ribbon_icons: frozenset[str]
    addin_icons: tuple[str, str]
    domain: str
    sso: tuple[str, str] | None


def summarise_xml(text: str) -> Summary:
    root = etree.fromstring(text.encode("utf-8"))
    o = {"o": NS_OFFICEAPP}
    inner = root.find(f".//{{{NS_VERSION_OVERRIDES_1_1}}}VersionOverrides")
    assert inner is not None
    v = {"v": NS_VERSION_OVERRIDES_1_1, "bt": NS_BASIC_TYPES}
    nsx = {**v, "xsi": XSI_TYPE[1:].partition("}")[0]}
    resources = {
        element.get("id"): element.get("DefaultValue")
        for element in inner.iterfind("v:Resources//*[@DefaultValue]", namespaces=v)
    }
    commands = set()
    send_events = set()
    runtime = inner.find("v:Hosts/v:Host/v:Runtimes/v:Runtime", namespaces=v)
    for point in inner.iterfind(".//v:ExtensionPoint[@xsi:type='LaunchEvent']", namespaces=nsx):
        page = resources[point.find("v:SourceLocation", namespaces=v).get("resid")]
        assert resources[runtime.get("resid")] == page
        override = runtime.find("v:Override[@type='javascript']", namespaces=v)
        script = resources[override.get("resid")]
        for event in point.iterfind("v:LaunchEvents/v:LaunchEvent", namespaces=v):
            send_events.add(
                (event.get("Type"), event.get("FunctionName"), event.get("SendMode"), page, script)
            )
    for point in inner.iterfind(".//v:ExtensionPoint", namespaces=v):
        if point.get(XSI_TYPE) == "LaunchEvent":
            continue
        buttons = []
        for control in point.iterfind(".//v:Control", namespaces=v):
            label = resources[control.find("v:Label", namespaces=v).get("resid")]
            action = control.find("v:Action", namespaces=v)
            kind = action.get(XSI_TYPE)
            target = (
                action.findtext("v:FunctionName", namespaces=v)
                if kind == "ExecuteFunction"
                else resources[action.find("v:SourceLocation", namespaces=v).get("resid")]
            )
            buttons.append((label, kind, target))
        commands.add((point.get(XSI_TYPE), tuple(buttons)))
    function_file = resources[inner.find(".//v:FunctionFile", namespaces=v).get("resid")]
    icons = {
        resources[image.get("resid")]
        for image in inner.iterfind(".//v:Control/v:Icon/bt:Image", namespaces=v)
    }
    info = inner.find("v:WebApplicationInfo", namespaces=v)
    requirement = root.find(
        f"{{{NS_VERSION_OVERRIDES_1_0}}}VersionOverrides/{{{NS_VERSION_OVERRIDES_1_0}}}"
        f"Requirements/{{{NS_BASIC_TYPES}}}Sets"
    )
    events_requirement = inner.find("v:Requirements/bt:Sets", namespaces=v)
    return Summary(
        addin_id=root.findtext("o:Id", namespaces=o),
        name=root.find("o:DisplayName", namespaces=o).get("DefaultValue"),
        version=root.findtext("o:Version", namespaces=o).removesuffix(".0"),
        permission=root.findtext("o:Permissions", namespaces=o),
        mailbox_min_version=requirement.get("DefaultMinVersion"),
        send_events_min_version=events_requirement.get("DefaultMinVersion"),
        send_events=frozenset(send_events),
        surfaces=frozenset(name for name, _ in commands),
        commands=frozenset(commands),
        function_file=function_file,
        ribbon_icons=frozenset(icons),
        addin_icons=(
            root.find("o:IconUrl", namespaces=o).get("DefaultValue"),
            root.find("o:HighResolutionIconUrl", namespaces=o).get("DefaultValue"),
        ),
        domain=root.findtext("o:AppDomains/o:AppDomain", namespaces=o),
        sso=None
        if info is None
        else (info.findtext("v:Id", namespaces=v), info.findtext("v:Resource", namespaces=v)),
    )


def summarise_json(manifest: dict[str, Any]) -> Summary:
    extension = manifest["extensions"][0]
    actions: dict[str, tuple[str, str]] = {}
    pages = {}
    runtime_of_action = {}
    for runtime in extension["runtimes"]:
        for action in runtime["actions"]:
            runtime_of_action[action["id"]] = runtime
            kind = ACTION_OF_TYPE[action["type"]]
            target = action["id"] if kind == "ExecuteFunction" else runtime["code"]["page"]
            actions[action["id"]] = (kind, target)
            pages[kind] = runtime["code"]["page"]
    commands = set()
    icons = set()
    for ribbon in extension["ribbons"]:
        buttons = []
        for tab in ribbon["tabs"]:
            for group in tab["groups"]:
                for control in group["controls"]:
                    buttons.append((control["label"], *actions[control["actionId"]]))
                    icons.update(icon["url"] for icon in control["icons"])
        for context in ribbon["contexts"]:
            commands.add((SURFACE_OF_CONTEXT[context], tuple(buttons)))
    (auto_run,) = extension["autoRunEvents"]
    send_events = set()
    for event in auto_run["events"]:
        runtime = runtime_of_action[event["actionId"]]
        send_events.add(
            (
                EVENT_OF_TYPE[event["type"]],
                event["actionId"],
                SEND_MODE_OF_OPTION[event["options"]["sendMode"]],
                runtime["code"]["page"],
                runtime["code"]["script"],
            )
        )
    (event_capability,) = [
        c for c in auto_run["requirements"]["capabilities"] if c["name"] == "Mailbox"
    ]
    (runtime_capability,) = {
        c["minVersion"]
        for event in auto_run["events"]
        for c in runtime_of_action[event["actionId"]]["requirements"]["capabilities"]
        if c["name"] == "Mailbox"
    }
    assert runtime_capability == event_capability["minVersion"]
    alternate = extension["alternates"][0]["alternateIcons"]
    sso = manifest.get("webApplicationInfo")
    (capability,) = [c for c in extension["requirements"]["capabilities"] if c["name"] == "Mailbox"]
    (permission,) = manifest["authorization"]["permissions"]["resourceSpecific"]
    return Summary(
        addin_id=manifest["id"],
        name=manifest["name"]["short"],
        version=manifest["version"],
        permission=PERMISSION_OF_SCOPE[permission["name"]],
        mailbox_min_version=capability["minVersion"],
        send_events_min_version=event_capability["minVersion"],
        send_events=frozenset(send_events),
        surfaces=frozenset(name for name, _ in commands),
        commands=frozenset(commands),
        function_file=pages["ExecuteFunction"],
        ribbon_icons=frozenset(icons),
        addin_icons=(alternate["icon"]["url"], alternate["highResolutionIcon"]["url"]),
        domain=f"https://{manifest['validDomains'][0]}",
        sso=None if sso is None else (sso["id"], sso["resource"]),
    )


@pytest.mark.parametrize("client_id", [CLIENT_ID, None])
def test_xml_and_json_manifests_describe_the_same_addin(client_id: str | None) -> None:
    # GIVEN one deployment
    cfg = AddinConfig.create(
        "https://crm.example.com:8443/sales",
        deployment_id="contoso-prod",
        version="2.3.4",
        client_id=client_id,
    )
    # WHEN both manifests are generated and read back independently
    from_xml = summarise_xml(build_xml_manifest(cfg))
    from_json = summarise_json(build_json_manifest(cfg))
    # THEN they agree on everything a user or an admin would notice
    assert from_xml == from_json
    # ...and that common picture is the add-in the issue asks for
    assert from_xml.addin_id == cfg.addin_id
    assert from_xml.version == "2.3.4"
    assert from_xml.permission == "ReadWriteItem"
    assert from_xml.surfaces == frozenset(SURFACE_OF_CONTEXT.values())
    base = "https://crm.example.com:8443/sales/addin/"
    assert from_xml.commands == frozenset(
        (
            surface,
            (
                ("Track in CRM", "ExecuteFunction", "trackInCrm"),
                ("CRM", "ShowTaskpane", f"{base}taskpane.html"),
            ),
        )
        for surface in SURFACE_OF_CONTEXT.values()
    )
    assert from_xml.function_file == f"{base}commands.html"
    # both send events run in the commands runtime (page, and the script classic Outlook
    # loads), never hold mail back (prompt user), and need Mailbox 1.12 where the rest needs 1.8
    assert from_xml.send_events == {
        (event, handler, "PromptUser", f"{base}commands.html", f"{base}commands.js")
        for event, handler in (
            ("OnMessageSend", "onMessageSendHandler"),
            ("OnAppointmentSend", "onAppointmentSendHandler"),
        )
    }
    assert (from_xml.mailbox_min_version, from_xml.send_events_min_version) == ("1.8", "1.12")
    assert from_xml.addin_icons == (f"{base}assets/icon-64.png", f"{base}assets/icon-128.png")
    assert {64, 128} <= set(ICON_SIZES)
    assert (from_xml.sso is None) == (client_id is None)


def test_summaries_notice_a_difference() -> None:
    # GIVEN two deployments that differ only in their id / THEN the comparison tells them apart
    one = AddinConfig.create("https://crm.example.com", deployment_id="a")
    two = AddinConfig.create("https://crm.example.com", deployment_id="b")
    assert summarise_xml(build_xml_manifest(one)) != summarise_json(build_json_manifest(two))
