"""Exchange Server (on-premises, hybrid) through EWS, with exchangelib doing the protocol.

One module per job: ``connection`` (auth, TLS trust, accounts, FailFast),
``errors`` (exchangelib exception → typed error), ``services`` (exchangelib's
services, reading responses in large pieces), ``folders`` (distinguished
folders, and the others by path through FindFolder), ``fetch`` (GetItem with
the properties each kind needs), ``mail`` (SyncFolderItems pages of mail
folders), ``calendar`` (masters resolved into occurrences and exceptions),
``categories`` (write-back through UpdateItem), ``normalise`` (items →
provider-neutral items) and ``driver`` (the MailboxProvider).
"""

from mailsync.providers.ews.connection import EwsConnection, EwsConnectionSettings
from mailsync.providers.ews.driver import EwsProvider, EwsSyncSettings

__all__ = ["EwsConnection", "EwsConnectionSettings", "EwsProvider", "EwsSyncSettings"]
