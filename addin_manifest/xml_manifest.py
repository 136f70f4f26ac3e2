"""The add-in-only (XML) manifest: what classic Outlook, Outlook on Mac and on-premises use.

Element order follows Microsoft's "manifest element ordering" reference (an out-of-order
element fails validation even when every element is right). VersionOverrides V1_0 carries the
commands for clients that only understand 1.0; the nested V1_1 (which must be the last child
of V1_0) repeats them with what only 1.1 can say: the pinnable task pane and the Entra ID
application used for single sign-on (WebApplicationInfo is a V1_1 element for Outlook).

V1_1 also declares the send events (Smart Alerts): a ``LaunchEvent`` extension point whose
``SourceLocation`` names the event runtime, and the host's ``Runtimes`` entry for it, with the
JavaScript file override classic Outlook on Windows needs (it runs event handlers without a
browser page). Its requirement is therefore Mailbox 1.12 (``MAILBOX_SEND_EVENTS_VERSION``);
clients below fall back to V1_0 and keep the commands.
"""

from __future__ import annotations

from addin_manifest.addin import (
    COMMANDS,
    GROUP_LABEL,
    LAUNCH_EVENTS,
    MAILBOX_MIN_VERSION,
    MAILBOX_SEND_EVENTS_VERSION,
    PERMISSION_XML,
    RIBBON_ICON_SIZES,
    SEND_MODE,
    SURFACES,
    ActionKind,
    AddinUrls,
    Command,
    Surface,
)
from addin_manifest.config import AddinConfig
from addin_manifest.xml_writer import Element, serialize

NS_OFFICEAPP = "http://schemas.microsoft.com/office/appforoffice/1.1"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_BASIC_TYPES = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
NS_MAIL_OVERRIDES_PREFIX = "http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
NS_VERSION_OVERRIDES_1_0 = "http://schemas.microsoft.com/office/mailappversionoverrides"
NS_VERSION_OVERRIDES_1_1 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"

DEFAULT_LOCALE = "en-US"
LEGACY_PANE_HEIGHT = "250"
SSO_SCOPES = ("openid", "profile")
"""Our backend needs only the user's identity; Graph access stays with the daemon."""

# Resource ids are limited to 32 characters by the schema.
RES_COMMANDS_URL = "Commands.Url"
RES_TASKPANE_URL = "Taskpane.Url"
RES_GROUP_LABEL = "Group.Label"
RES_EVENT_SCRIPT_URL = "Events.Js.Url"


def _icon_res(size: int) -> str:
    return f"Icon.{size}"


def _label_res(command: Command) -> str:
    return f"{command.key}.Label"


def _tip_res(command: Command) -> str:
    return f"{command.key}.Tip"


def _control_id(surface: Surface, command: Command) -> str:
    return f"mailsync.{surface.short}.{command.key}"


def _typed(parent: Element, tag: str, xsi_type: str, **attributes: str) -> Element:
    return parent.add(tag, **{"xsi:type": xsi_type, **attributes})


def _control(surface: Surface, command: Command, *, v1_1: bool) -> Element:
    control = Element("Control", {"xsi:type": "Button", "id": _control_id(surface, command)})
    control.add("Label", resid=_label_res(command))
    supertip = control.add("Supertip")
    supertip.add("Title", resid=_label_res(command))
    supertip.add("Description", resid=_tip_res(command))
    icon = control.add("Icon")
    for size in RIBBON_ICON_SIZES:
        icon.add("bt:Image", size=str(size), resid=_icon_res(size))
    action = _typed(control, "Action", command.kind.value)
    if command.kind is ActionKind.EXECUTE_FUNCTION:
        action.add("FunctionName", command.action_id)
    else:
        action.add("SourceLocation", resid=RES_TASKPANE_URL)
        if v1_1 and surface.pinnable:
            action.add("SupportsPinning", "true")
    return control


def _extension_point(surface: Surface, *, v1_1: bool) -> Element:
    point = Element("ExtensionPoint", {"xsi:type": surface.extension_point})
    group = point.add("OfficeTab", id="TabDefault").add("Group", id=f"mailsync.{surface.short}")
    group.add("Label", resid=RES_GROUP_LABEL)
    for command in COMMANDS:
        group.append(_control(surface, command, v1_1=v1_1))
    return point


def _requirements(parent: Element, version: str) -> None:
    sets = parent.add("Requirements").add("bt:Sets", DefaultMinVersion=version)
    sets.add("bt:Set", Name="Mailbox")


def _launch_events() -> Element:
    """The send events, run in the commands runtime (the page is also the FunctionFile)."""
    point = Element("ExtensionPoint", {"xsi:type": "LaunchEvent"})
    events = point.add("LaunchEvents")
    for event in LAUNCH_EVENTS:
        events.add(
            "LaunchEvent",
            Type=event.xml_type,
            FunctionName=event.function_name,
            SendMode=SEND_MODE.xml,
        )
    point.add("SourceLocation", resid=RES_COMMANDS_URL)
    return point


def _hosts(parent: Element, *, v1_1: bool) -> None:
    host = _typed(parent.add("Hosts"), "Host", "MailHost")
    if v1_1:
        runtime = host.add("Runtimes").add("Runtime", resid=RES_COMMANDS_URL)
        runtime.add("Override", type="javascript", resid=RES_EVENT_SCRIPT_URL)
    form_factor = host.add("DesktopFormFactor")
    form_factor.add("FunctionFile", resid=RES_COMMANDS_URL)
    for surface in SURFACES:
        form_factor.append(_extension_point(surface, v1_1=v1_1))
    if v1_1:
        form_factor.append(_launch_events())


def _resources(parent: Element, urls: AddinUrls, *, v1_1: bool) -> None:
    resources = parent.add("Resources")
    images = resources.add("bt:Images")
    for size in RIBBON_ICON_SIZES:
        images.add("bt:Image", id=_icon_res(size), DefaultValue=urls.icons[size])
    url_list = resources.add("bt:Urls")
    url_list.add("bt:Url", id=RES_COMMANDS_URL, DefaultValue=urls.commands_page)
    url_list.add("bt:Url", id=RES_TASKPANE_URL, DefaultValue=urls.taskpane)
    if v1_1:
        url_list.add("bt:Url", id=RES_EVENT_SCRIPT_URL, DefaultValue=urls.commands_script)
    short = resources.add("bt:ShortStrings")
    short.add("bt:String", id=RES_GROUP_LABEL, DefaultValue=GROUP_LABEL)
    for command in COMMANDS:
        short.add("bt:String", id=_label_res(command), DefaultValue=command.label)
    long = resources.add("bt:LongStrings")
    for command in COMMANDS:
        long.add("bt:String", id=_tip_res(command), DefaultValue=command.tooltip)


def _web_application_info(parent: Element, cfg: AddinConfig) -> None:
    if cfg.client_id is None or cfg.sso_resource is None:
        return
    info = parent.add("WebApplicationInfo")
    info.add("Id", cfg.client_id)
    info.add("Resource", cfg.sso_resource)
    scopes = info.add("Scopes")
    for scope in SSO_SCOPES:
        scopes.add("Scope", scope)


def _version_overrides(cfg: AddinConfig, urls: AddinUrls) -> Element:
    outer = Element(
        "VersionOverrides",
        {"xmlns": NS_VERSION_OVERRIDES_1_0, "xsi:type": "VersionOverridesV1_0"},
    )
    _requirements(outer, MAILBOX_MIN_VERSION)
    _hosts(outer, v1_1=False)
    _resources(outer, urls, v1_1=False)
    inner = outer.add(
        "VersionOverrides", xmlns=NS_VERSION_OVERRIDES_1_1, **{"xsi:type": "VersionOverridesV1_1"}
    )
    _requirements(inner, MAILBOX_SEND_EVENTS_VERSION)
    _hosts(inner, v1_1=True)
    _resources(inner, urls, v1_1=True)
    _web_application_info(inner, cfg)
    return outer


def build_xml_tree(cfg: AddinConfig) -> Element:
    urls = AddinUrls.for_config(cfg)
    root = Element(
        "OfficeApp",
        {
            "xmlns": NS_OFFICEAPP,
            "xmlns:xsi": NS_XSI,
            "xmlns:bt": NS_BASIC_TYPES,
            "xmlns:mailappor": NS_MAIL_OVERRIDES_PREFIX,
            "xsi:type": "MailApp",
        },
    )
    root.add("Id", cfg.addin_id)
    root.add("Version", f"{cfg.version}.0")
    root.add("ProviderName", cfg.provider_name)
    root.add("DefaultLocale", DEFAULT_LOCALE)
    root.add("DisplayName", DefaultValue=cfg.display_name)
    root.add("Description", DefaultValue=cfg.description)
    root.add("IconUrl", DefaultValue=urls.icons[64])
    root.add("HighResolutionIconUrl", DefaultValue=urls.icons[128])
    root.add("SupportUrl", DefaultValue=cfg.support_url)
    root.add("AppDomains").add("AppDomain", cfg.base.origin)
    root.add("Hosts").add("Host", Name="Mailbox")
    sets = root.add("Requirements").add("Sets")
    sets.add("Set", Name="Mailbox", MinVersion=MAILBOX_MIN_VERSION)
    # FormSettings and Rule are required by the schema; clients that read VersionOverrides
    # ignore them, older ones open the task pane through them.
    forms = root.add("FormSettings")
    read = _typed(forms, "Form", "ItemRead").add("DesktopSettings")
    read.add("SourceLocation", DefaultValue=urls.taskpane)
    read.add("RequestedHeight", LEGACY_PANE_HEIGHT)
    edit = _typed(forms, "Form", "ItemEdit").add("DesktopSettings")
    edit.add("SourceLocation", DefaultValue=urls.taskpane)
    root.add("Permissions", PERMISSION_XML)
    rules = _typed(root, "Rule", "RuleCollection", Mode="Or")
    for item_type in ("Message", "Appointment"):
        for form_type in ("Read", "Edit"):
            _typed(rules, "Rule", "ItemIs", ItemType=item_type, FormType=form_type)
    root.append(_version_overrides(cfg, urls))
    return root


def build_xml_manifest(cfg: AddinConfig) -> str:
    """The add-in-only manifest for one deployment, as UTF-8 XML text."""
    return serialize(build_xml_tree(cfg))
