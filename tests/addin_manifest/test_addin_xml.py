"""The add-in-only manifest: well-formed, required elements in Microsoft's order, both version
overrides, every URL https.

Microsoft withdrew the XSDs from office-js-docs-pr in 2020 as out of date (the copies left in
its history declare the XML Schema namespace wrongly and cannot be loaded), so these checks
encode the documented rules instead: "Required elements" and "manifest element ordering" of
the add-in only manifest reference. xsi:type values are QNames and are resolved against the
in-scope namespaces, as Outlook's parser does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree

from addin_manifest.addin import (
    LAUNCH_EVENTS,
    MAILBOX_MIN_VERSION,
    MAILBOX_SEND_EVENTS_VERSION,
    SURFACES,
)
from addin_manifest.config import AddinConfig
from addin_manifest.xml_manifest import (
    NS_BASIC_TYPES,
    NS_OFFICEAPP,
    NS_VERSION_OVERRIDES_1_0,
    NS_VERSION_OVERRIDES_1_1,
    build_xml_manifest,
)

from .conftest import CLIENT_ID

NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{NS_XSI}}}type"

# "Basic mail add-in element ordering" (manifest-element-ordering.md).
OFFICEAPP_ORDER = [
    "Id",
    "AlternateId",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "IconUrl",
    "HighResolutionIconUrl",
    "SupportUrl",
    "AppDomains",
    "Hosts",
    "Requirements",
    "FormSettings",
    "Permissions",
    "Rule",
    "DisableEntityHighlighting",
    "VersionOverrides",
]
# "Required elements by Office Add-in type", Mail column (SupportUrl: we always emit it).
OFFICEAPP_REQUIRED = {
    "Id",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "SupportUrl",
    "Requirements",
    "FormSettings",
    "Permissions",
    "Rule",
}
VERSION_OVERRIDES_1_0_ORDER = [
    "Description",
    "Requirements",
    "Hosts",
    "Resources",
    "VersionOverrides",
]
VERSION_OVERRIDES_1_1_ORDER = [
    "Description",
    "Requirements",
    "Hosts",
    "Resources",
    "WebApplicationInfo",
    "EquivalentAddins",
    "ExtendedPermissions",
]
CONTROL_ORDER = ["Label", "Supertip", "Icon", "Action"]
RESOURCES_ORDER = ["Images", "Urls", "ShortStrings", "LongStrings"]


def _parse(cfg: AddinConfig) -> etree._Element:
    text = build_xml_manifest(cfg)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(text.encode("utf-8"), parser)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element) -> list[str]:
    return [_local(child) for child in element if isinstance(child.tag, str)]


def _assert_in_order(names: list[str], order: list[str]) -> None:
    unknown = [name for name in names if name not in order]
    assert not unknown, f"elements not allowed here: {unknown}"
    positions = [order.index(name) for name in names]
    assert positions == sorted(positions), f"out of order: {names}, expected order {order}"


def _xsi_type(element: etree._Element) -> tuple[str | None, str]:
    """Resolve an xsi:type QName against the element's in-scope namespaces."""
    value = element.get(XSI_TYPE)
    assert value is not None, f"<{_local(element)}> has no xsi:type"
    prefix, _, local = value.rpartition(":")
    return element.nsmap.get(prefix or None), local


def _overrides(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    outer = root.find(f"{{{NS_VERSION_OVERRIDES_1_0}}}VersionOverrides")
    assert outer is not None
    inner = outer.find(f"{{{NS_VERSION_OVERRIDES_1_1}}}VersionOverrides")
    assert inner is not None
    return outer, inner


def _urls(root: etree._Element) -> Iterator[str]:
    """Every value that looks like a URL, in attributes or text, except the SSO identifier
    (an ``api://`` Application ID URI, which names the app and is never loaded)."""
    for element in root.iter():
        if not isinstance(element.tag, str) or _local(element) == "Resource":
            continue
        for value in element.attrib.values():
            if "://" in value and not value.startswith("http://www.w3.org/"):
                yield value
        if element.text and "://" in element.text:
            yield element.text


@pytest.fixture
def root(cfg: AddinConfig) -> etree._Element:
    return _parse(cfg)


def test_root_is_a_mail_app_with_required_elements_in_documented_order(
    root: etree._Element,
) -> None:
    assert etree.QName(root).namespace == NS_OFFICEAPP
    assert _xsi_type(root) == (NS_OFFICEAPP, "MailApp")
    names = _children(root)
    _assert_in_order(names, OFFICEAPP_ORDER)
    assert set(names) >= OFFICEAPP_REQUIRED
    assert len(names) == len(set(names)), "an element appears twice"


def test_permissions_requirements_and_activation_rules(root: etree._Element) -> None:
    ns = {"o": NS_OFFICEAPP}
    assert root.findtext("o:Permissions", namespaces=ns) == "ReadWriteItem"
    sets = root.findall("o:Requirements/o:Sets/o:Set", namespaces=ns)
    assert [(s.get("Name"), s.get("MinVersion")) for s in sets] == [
        ("Mailbox", MAILBOX_MIN_VERSION)
    ]
    rule = root.find("o:Rule", namespaces=ns)
    assert rule is not None
    assert _xsi_type(rule) == (NS_OFFICEAPP, "RuleCollection")
    activations = {(r.get("ItemType"), r.get("FormType")) for r in rule}
    assert activations == {
        ("Message", "Read"),
        ("Message", "Edit"),
        ("Appointment", "Read"),
        ("Appointment", "Edit"),
    }
    forms = [_xsi_type(form)[1] for form in root.findall("o:FormSettings/o:Form", namespaces=ns)]
    assert forms == ["ItemRead", "ItemEdit"]


def test_version_overrides_v1_0_wraps_v1_1_as_its_last_child(root: etree._Element) -> None:
    outer, inner = _overrides(root)
    assert _xsi_type(outer) == (NS_VERSION_OVERRIDES_1_0, "VersionOverridesV1_0")
    assert _xsi_type(inner) == (NS_VERSION_OVERRIDES_1_1, "VersionOverridesV1_1")
    assert outer[-1] is inner
    _assert_in_order(_children(outer), VERSION_OVERRIDES_1_0_ORDER)
    _assert_in_order(_children(inner), VERSION_OVERRIDES_1_1_ORDER)
    assert root[-1] is outer


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_each_override_declares_the_mail_host_surfaces_and_commands(
    root: etree._Element, version: str
) -> None:
    outer, inner = _overrides(root)
    overrides = outer if version == "1.0" else inner
    ns = {"v": etree.QName(overrides).namespace, "bt": NS_BASIC_TYPES}
    requirement = overrides.find("v:Requirements/bt:Sets", namespaces=ns)
    assert requirement is not None
    # V1_1 carries the send events (Mailbox 1.12); clients below fall back to V1_0
    wanted = MAILBOX_MIN_VERSION if version == "1.0" else MAILBOX_SEND_EVENTS_VERSION
    assert requirement.get("DefaultMinVersion") == wanted
    assert [s.get("Name") for s in requirement] == ["Mailbox"]

    host = overrides.find("v:Hosts/v:Host", namespaces=ns)
    assert host is not None
    assert _xsi_type(host)[1] == "MailHost"
    form_factor = host.find("v:DesktopFormFactor", namespaces=ns)
    assert form_factor is not None
    names = _children(form_factor)
    assert names[0] == "FunctionFile"
    points = [
        p
        for p in form_factor.findall("v:ExtensionPoint", namespaces=ns)
        if _xsi_type(p)[1] != "LaunchEvent"
    ]
    assert [_xsi_type(p)[1] for p in points] == [s.extension_point for s in SURFACES]

    resources = overrides.find("v:Resources", namespaces=ns)
    assert resources is not None
    _assert_in_order(_children(resources), RESOURCES_ORDER)
    declared = {element.get("id") for element in resources.iter() if element.get("id")}
    for point in points:
        controls = point.findall("v:OfficeTab/v:Group/v:Control", namespaces=ns)
        actions = []
        for control in controls:
            assert _xsi_type(control)[1] == "Button"
            _assert_in_order(_children(control), CONTROL_ORDER)
            action = control.find("v:Action", namespaces=ns)
            assert action is not None
            actions.append(_xsi_type(action)[1])
        assert actions == ["ExecuteFunction", "ShowTaskpane"]
        # every resid a surface references is declared in Resources
        referenced = {e.get("resid") for e in point.iter() if e.get("resid")}
        assert referenced <= declared, referenced - declared
    function_file = form_factor.find("v:FunctionFile", namespaces=ns)
    assert function_file is not None and function_file.get("resid") in declared
    assert all(len(resid) <= 32 for resid in declared)  # schema limit for resource ids


def test_send_events_only_in_v1_1_with_their_runtime(root: etree._Element) -> None:
    outer, inner = _overrides(root)
    # GIVEN the manifest / THEN V1_0 (clients below Mailbox 1.12) has no event-based parts
    for name in ("LaunchEvent", "LaunchEvents", "Runtimes"):
        found = [e for e in outer.iter() if isinstance(e.tag, str) and _local(e) == name]
        assert all(_inside(e, inner) for e in found), name
    ns = {"v": NS_VERSION_OVERRIDES_1_1, "bt": NS_BASIC_TYPES}
    host = inner.find("v:Hosts/v:Host", namespaces=ns)
    assert host is not None
    # Runtimes precede the form factor (element order of MailHost)
    assert _children(host) == ["Runtimes", "DesktopFormFactor"]
    (runtime,) = host.findall("v:Runtimes/v:Runtime", namespaces=ns)
    (override,) = runtime.findall("v:Override", namespaces=ns)
    assert override.get("type") == "javascript"
    form_factor = host.find("v:DesktopFormFactor", namespaces=ns)
    assert form_factor is not None
    (point,) = [
        p
        for p in form_factor.findall("v:ExtensionPoint", namespaces=ns)
        if _xsi_type(p) == (NS_VERSION_OVERRIDES_1_1, "LaunchEvent")
    ]
    assert _children(point) == ["LaunchEvents", "SourceLocation"]
    events = point.findall("v:LaunchEvents/v:LaunchEvent", namespaces=ns)
    assert [(e.get("Type"), e.get("FunctionName"), e.get("SendMode")) for e in events] == [
        (event.xml_type, event.function_name, "PromptUser") for event in LAUNCH_EVENTS
    ]
    assert {e.get("Type") for e in events} == {"OnMessageSend", "OnAppointmentSend"}
    # the event page is the runtime's (and the function file's); the override is the script
    urls = {
        u.get("id"): u.get("DefaultValue")
        for u in inner.findall("v:Resources/bt:Urls/bt:Url", namespaces=ns)
    }
    source = point.find("v:SourceLocation", namespaces=ns)
    assert source is not None
    assert source.get("resid") == runtime.get("resid")
    function_file = form_factor.find("v:FunctionFile", namespaces=ns)
    assert function_file is not None and function_file.get("resid") == runtime.get("resid")
    assert urls[runtime.get("resid")] == "https://crm.example.com/sales/addin/commands.html"
    assert urls[override.get("resid")] == "https://crm.example.com/sales/addin/commands.js"


def test_pinning_and_sso_only_in_v1_1(root: etree._Element) -> None:
    outer, inner = _overrides(root)
    pinned = [e for e in root.iter() if isinstance(e.tag, str) and _local(e) == "SupportsPinning"]
    # SupportsPinning is a V1_1 element: all of them sit inside the inner overrides
    assert pinned and all(_inside(e, inner) and e.text == "true" for e in pinned)
    assert len(pinned) == sum(surface.pinnable for surface in SURFACES)
    ns = {"v": NS_VERSION_OVERRIDES_1_1}
    assert outer.find(f"{{{NS_VERSION_OVERRIDES_1_0}}}WebApplicationInfo") is None
    info = inner.find("v:WebApplicationInfo", namespaces=ns)
    assert info is not None
    assert info.findtext("v:Id", namespaces=ns) == CLIENT_ID
    assert info.findtext("v:Resource", namespaces=ns) == f"api://crm.example.com/{CLIENT_ID}"
    assert [s.text for s in info.findall("v:Scopes/v:Scope", namespaces=ns)] == [
        "openid",
        "profile",
    ]


def _inside(element: etree._Element, ancestor: etree._Element) -> bool:
    return any(parent is ancestor for parent in element.iterancestors())


def test_without_a_client_id_there_is_no_sso_block() -> None:
    root = _parse(AddinConfig.create("https://crm.example.com"))
    _, inner = _overrides(root)
    assert inner.find(f"{{{NS_VERSION_OVERRIDES_1_1}}}WebApplicationInfo") is None


def test_every_url_is_https_and_under_the_base_url(root: etree._Element) -> None:
    urls = list(_urls(root))
    assert len(urls) >= 8
    origin = "https://crm.example.com"
    for url in urls:
        assert url == origin or url.startswith(f"{origin}/sales/"), url


def test_text_is_escaped_not_injected() -> None:
    # GIVEN a display name with XML metacharacters / THEN it round-trips as text
    cfg = AddinConfig.create("https://crm.example.com", display_name='A&B <"CRM">')
    root = _parse(cfg)
    display = root.find(f"{{{NS_OFFICEAPP}}}DisplayName")
    assert display is not None
    assert display.get("DefaultValue") == 'A&B <"CRM">'


def test_development_manifest_on_localhost_points_only_at_localhost() -> None:
    dev = AddinConfig.create("http://localhost:8000", allow_http_localhost=True)
    urls = list(_urls(_parse(dev)))
    assert urls
    assert all(url.startswith("http://localhost:8000") for url in urls), urls
