"""``python -m mailsync.sandbox serve …`` (how ``running_sandbox(in_process=False)`` starts it)."""

from mailsync.sandbox.cli import sandbox_group

sandbox_group(prog_name="mailsync sandbox")
