"""A Microsoft Graph look-alike on loopback, seeded with a generated company.

Public surface (see each module for details):

- ``running_sandbox(**config)`` — context manager yielding a :class:`SandboxHandle`
  (base_url, ca_path, tenant, client_id, client_secret, ground truth, mutations,
  faults, counters);
- ``serve(port, seed, mailboxes, messages_per_mailbox, fault_rate, **options)`` —
  blocking server for the CLI; ``sandbox_group`` in ``mailsync.sandbox.cli``;
- ``SandboxConfig`` / ``SandboxServer`` — the in-process server;
- ``generate_company(seed, mailboxes=…)`` and ``write_crm_csv(company, dir)`` — the
  CRM side as data and as the CSV files ``mailsync import`` reads.
"""

from mailsync.sandbox.company import Company, generate_company, write_crm_csv
from mailsync.sandbox.runner import SandboxHandle, running_sandbox, serve, write_crm
from mailsync.sandbox.server import SandboxConfig, SandboxServer

__all__ = [
    "Company",
    "SandboxConfig",
    "SandboxHandle",
    "SandboxServer",
    "generate_company",
    "running_sandbox",
    "serve",
    "write_crm",
    "write_crm_csv",
]
