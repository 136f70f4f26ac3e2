"""The participants of an item with the role each plays, in matching order."""

from __future__ import annotations

from crm_store.items import CorrespondenceItem, Direction, MessageItem

Role = tuple[str, str]  # (role, lower-case address)


def participant_roles(item: CorrespondenceItem) -> list[Role]:
    """from, to, cc, bcc for a message; organizer then attendees for a meeting."""
    roles: list[Role] = []
    if isinstance(item, MessageItem):
        if item.sender is not None:
            roles.append(("from", item.sender.address))
        for address in item.to:
            roles.append(("to", address.address))
        for address in item.cc:
            roles.append(("cc", address.address))
        for address in item.bcc:
            roles.append(("bcc", address.address))
    else:
        if item.organizer is not None:
            roles.append(("organizer", item.organizer.address))
        for attendee in item.attendees:
            roles.append(("attendee", attendee.address))
    return roles


def effective_direction(item: CorrespondenceItem, mailbox: str | None) -> Direction:
    """The item's direction, or the one its sender/organizer implies for this mailbox."""
    if isinstance(item, MessageItem):
        if item.direction is not Direction.UNKNOWN or mailbox is None:
            return item.direction
        head = item.sender
    else:
        if mailbox is None:
            return Direction.UNKNOWN
        head = item.organizer
    if head is None:
        return Direction.UNKNOWN
    return Direction.OUTBOUND if head.address == mailbox.lower() else Direction.INBOUND
