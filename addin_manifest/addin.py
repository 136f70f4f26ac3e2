"""The add-in itself, independent of manifest format: surfaces, commands, files, requirements.

Both manifest builders read these definitions, so the XML and the JSON manifest cannot drift
apart (a test compares what they say anyway). The static files named here live in
``addin_manifest/static/``; web serves that folder at :data:`STATIC_PREFIX` under the base URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from addin_manifest.config import AddinConfig

MAILBOX_MIN_VERSION = "1.8"
"""Lowest Mailbox requirement set the add-in's code calls into, declared in both manifests.

Mailbox 1.8 is the first set that has everything the function command and the task pane use:

- ``item.getAllInternetHeadersAsync`` (1.8): In-Reply-To/References/Message-ID of a message
  that the daemon has not synced yet, so the backend threads it like the daemon would;
- ``item.getItemIdAsync`` (1.8): the id of an item being composed (after ``saveAsync``, 1.3),
  so links made in compose mode attach to the saved item;
- ``item.internetHeaders.setAsync`` (1.8): marks a message being composed for tracking, so the
  link is applied when it is sent;
- ``notificationMessages`` and ``body.getAsync`` (1.3) and ``SupportsPinning`` (1.5) are older.

Raising it shuts out older clients and on-premises Outlook on the web (which lag Microsoft
365 builds), so a later API needs a reason and a change here. Token acquisition (IdentityAPI,
NestedAppAuth) is feature-detected at run time instead of declared: declaring it would hide
the add-in entirely on clients that lack it, where the pane can still explain how to sign in.
"""

MAILBOX_SEND_EVENTS_VERSION = "1.12"
"""Mailbox set of the send events (OnMessageSend, OnAppointmentSend) and ``event.completed``
with ``allowEvent``: declared only where the events are (the unified manifest's
``autoRunEvents`` and their runtime; the XML's VersionOverrides V1_1, which carries the
LaunchEvent extension point), so clients below 1.12 keep the commands and the pane (the XML's
V1_0 and the JSON extension stay at :data:`MAILBOX_MIN_VERSION`) and simply never run the send
handler; links chosen while writing are then applied by the pane on the sent copy.
"""

PERMISSION_XML = "ReadWriteItem"
"""Read the item, write categories/headers/notifications on it; never the whole mailbox."""
PERMISSION_JSON = "MailboxItem.ReadWrite.User"
"""The unified manifest's name for ReadWriteItem (delegated)."""

STATIC_PREFIX = "addin"
"""Path under the base URL where web serves ``addin_manifest/static``."""
TASKPANE_PAGE = "taskpane.html"
COMMANDS_PAGE = "commands.html"
COMMANDS_SCRIPT = "commands.js"
"""Also the send handlers' script: classic Outlook on Windows runs event handlers in a
JavaScript-only runtime that loads this file instead of commands.html."""
OFFICE_JS = "office-js/office.js"
"""Where web serves ``node_modules/@microsoft/office-js/dist`` (relative to STATIC_PREFIX)."""

RIBBON_ICON_SIZES = (16, 32, 80)
"""The three sizes both manifests require for ribbon groups and buttons."""
ICON_SIZES = (16, 32, 64, 80, 128)
"""64 is the add-in icon (IconUrl), 128 its high-resolution icon; 16/32/80 are ribbon icons."""
PACKAGE_COLOR_ICON = "color.png"  # 192x192, inside the unified manifest's app package
PACKAGE_OUTLINE_ICON = "outline.png"  # 32x32 white on transparent, same package


def icon_file(size: int) -> str:
    return f"assets/icon-{size}.png"


class Surface(Enum):
    """Where Outlook shows the buttons: (XML extension point, JSON ribbon context)."""

    MESSAGE_READ = ("MessageReadCommandSurface", "mailRead")
    MESSAGE_COMPOSE = ("MessageComposeCommandSurface", "mailCompose")
    APPOINTMENT_ORGANIZER = ("AppointmentOrganizerCommandSurface", "meetingDetailsOrganizer")
    APPOINTMENT_ATTENDEE = ("AppointmentAttendeeCommandSurface", "meetingDetailsAttendee")

    @property
    def extension_point(self) -> str:
        return self.value[0]

    @property
    def ribbon_context(self) -> str:
        return self.value[1]

    @property
    def short(self) -> str:
        """Short stable token for control ids (ids must be unique per surface in XML)."""
        return {
            Surface.MESSAGE_READ: "MsgRead",
            Surface.MESSAGE_COMPOSE: "MsgCompose",
            Surface.APPOINTMENT_ORGANIZER: "ApptOrganizer",
            Surface.APPOINTMENT_ATTENDEE: "ApptAttendee",
        }[self]

    @property
    def pinnable(self) -> bool:
        """Outlook supports pinning the task pane while reading, not while composing."""
        return self in (Surface.MESSAGE_READ, Surface.APPOINTMENT_ATTENDEE)


SURFACES = tuple(Surface)


class ActionKind(Enum):
    EXECUTE_FUNCTION = "ExecuteFunction"
    SHOW_TASKPANE = "ShowTaskpane"


@dataclass(frozen=True)
class Command:
    """One ribbon button. ``action_id`` is the XML FunctionName / the JSON action id."""

    key: str
    label: str
    tooltip: str
    kind: ActionKind
    action_id: str


TRACK_IN_CRM = Command(
    key="Track",
    label="Track in CRM",
    tooltip="Link this item to the best matching CRM records and show what was linked.",
    kind=ActionKind.EXECUTE_FUNCTION,
    action_id="trackInCrm",
)
OPEN_CRM_PANE = Command(
    key="Pane",
    label="CRM",
    tooltip="Open the CRM pane: who the people are, open opportunities and this item's links.",
    kind=ActionKind.SHOW_TASKPANE,
    action_id="openCrmPane",
)
COMMANDS = (TRACK_IN_CRM, OPEN_CRM_PANE)
GROUP_LABEL = "CRM"


class SendMode(Enum):
    """What Outlook does when the send handler is slow, fails or cannot load: (XML, JSON)."""

    PROMPT_USER = ("PromptUser", "promptUser")
    SOFT_BLOCK = ("SoftBlock", "softBlock")
    BLOCK = ("Block", "block")

    @property
    def xml(self) -> str:
        return self.value[0]

    @property
    def json(self) -> str:
        return self.value[1]


SEND_MODE = SendMode.PROMPT_USER
"""A CRM must never hold back a salesperson's mail. The handler itself always ends with
``allowEvent: true`` (backend down, token refused: the links stay pending on the item), so the
send mode only matters when the add-in cannot answer in time. With soft block (and block) the
user cannot send until the add-in has finished, even past the five-second "taking longer than
expected" dialog and up to the five-minute timeout; prompt user offers **Send Anyway** there,
and when the add-in is unavailable. Smart Alerts docs: "Available send mode options"."""


@dataclass(frozen=True)
class LaunchEvent:
    """An event-based activation: (XML LaunchEvent Type, JSON autoRunEvents type, handler)."""

    xml_type: str
    json_type: str
    function_name: str


ON_MESSAGE_SEND = LaunchEvent("OnMessageSend", "messageSending", "onMessageSendHandler")
ON_APPOINTMENT_SEND = LaunchEvent(
    "OnAppointmentSend", "appointmentSending", "onAppointmentSendHandler"
)
LAUNCH_EVENTS = (ON_MESSAGE_SEND, ON_APPOINTMENT_SEND)


@dataclass(frozen=True)
class AddinUrls:
    """Every URL a manifest names, all under the deployment's base URL."""

    taskpane: str
    commands_page: str
    commands_script: str
    icons: dict[int, str]

    @classmethod
    def for_config(cls, cfg: AddinConfig) -> AddinUrls:
        def static(relative: str) -> str:
            return cfg.base.join(f"{STATIC_PREFIX}/{relative}")

        return cls(
            taskpane=static(TASKPANE_PAGE),
            commands_page=static(COMMANDS_PAGE),
            commands_script=static(COMMANDS_SCRIPT),
            icons={size: static(icon_file(size)) for size in ICON_SIZES},
        )
