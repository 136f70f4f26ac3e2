"""Microsoft Graph driver: mail delta per folder, calendarView delta, $batch bodies.

One module per job: ``transport`` (HTTP, headers, token refresh), ``errors``
(status → typed error), ``mail_delta`` / ``calendar_delta`` (paging),
``normalise`` (JSON → items), ``batch`` ($batch bodies), ``write_back``
(categories) and ``driver`` (the MailboxProvider that ties them together).
"""

from mailsync.providers.graph.driver import GraphProvider, GraphSyncSettings
from mailsync.providers.graph.transport import GraphTransport, new_http_client

__all__ = ["GraphProvider", "GraphSyncSettings", "GraphTransport", "new_http_client"]
