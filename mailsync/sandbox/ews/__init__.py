"""An Exchange Web Services endpoint on loopback, fed by the Graph sandbox's world.

The EWS driver runs the real exchangelib against it, so SOAP requests are
built and responses parsed by the same code that talks to an Exchange Server.
It answers only the operations our sync sends (ConvertId for exchangelib's
version probe, GetFolder and FindFolder on the folder hierarchy,
SyncFolderItems, GetItem including occurrences of recurring meetings, and
UpdateItem for categories), shaped after Microsoft's EWS reference. The mailboxes,
messages and meetings are the Graph sandbox's ``World``: same seeded company,
same internetMessageIds and meeting UIDs, same changes, same ground truth.

One module per job: ``soap`` (envelopes, faults, XML helpers), ``syncstate``
(signed sync states), ``calendar`` (the world's occurrences grouped into the
masters EWS shows), ``folders`` (the folder hierarchy, user folders included),
``render`` (item XML), ``operations`` (one method per EWS operation),
``update`` (UpdateItem and its change-key rules) and ``server`` (HTTP(S),
authentication, fault injection).
"""

from mailsync.sandbox.ews.server import EwsAccount, EwsEndpoint, EwsEndpointSettings

__all__ = ["EwsAccount", "EwsEndpoint", "EwsEndpointSettings"]
