"""The ``[reports]`` section: what the team dashboard and ``mailsync report`` count as quiet.

One setting serves the dashboard and the command, so a deal that the page
calls stale is the one the command lists.
"""

from __future__ import annotations

from pydantic import Field

from mailsync.config.sections import Section


class ReportsSettings(Section):
    """Dashboard and report thresholds."""

    stale_after_days: int = Field(default=14, ge=1, le=365)
    activity_weeks: int = Field(default=8, ge=1, le=52)
