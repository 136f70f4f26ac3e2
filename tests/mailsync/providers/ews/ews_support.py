"""An EWS endpoint on a sandbox world and a driver pointed at it, for the EWS tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from mailsync.providers.ews import (
    EwsConnection,
    EwsConnectionSettings,
    EwsProvider,
    EwsSyncSettings,
)
from mailsync.sandbox.ews import EwsAccount, EwsEndpoint, EwsEndpointSettings
from mailsync.sandbox.world import World, WorldConfig

ANCHOR = datetime(2025, 6, 2, tzinfo=UTC)
SERVICE = EwsAccount("svc-mailsync", "correct horse battery", impersonation=True)
DELEGATE = EwsAccount("svc-delegate", "delegate pass", full_access=True)
LIMITED = EwsAccount("svc-limited", "limited pass")


@dataclass
class EwsRig:
    world: World
    endpoint: EwsEndpoint

    def connection(
        self, account: EwsAccount = SERVICE, *, auth: str = "ntlm", password: str | None = None
    ) -> EwsConnection:
        return EwsConnection(
            EwsConnectionSettings(
                url=self.endpoint.url,
                auth=auth,  # type: ignore[arg-type]
                impersonation=account.impersonation,
                username=f"{account.domain}\\{account.username}",
                password=password or account.password,
                ca_bundle=self.endpoint.ca_path,
            )
        )

    def provider(self, index: int = 0, *, page_size: int = 25, **kwargs: object) -> EwsProvider:
        return EwsProvider(
            self.world.mailbox_address(index),
            self.connection(**kwargs),  # type: ignore[arg-type]
            EwsSyncSettings(page_size=page_size),
            now=ANCHOR,
        )

    def requests(self, operation: str) -> int:
        return int(self.endpoint.stats.snapshot()["per_endpoint"].get(operation, 0))


@contextmanager
def ews_rig(
    placements: tuple[tuple[str, str], ...] = (("archive", "Archive"),), **config: object
) -> Iterator[EwsRig]:
    """``placements``: where the world's archive sits in the endpoint's folder tree."""
    config.setdefault("seed", 5)
    config.setdefault("mailboxes", 2)
    config.setdefault("messages_per_mailbox", 80)
    config.setdefault("anchor", ANCHOR)
    world = World(WorldConfig(**config))  # type: ignore[arg-type]
    endpoint = EwsEndpoint(
        world,
        EwsEndpointSettings(accounts=(SERVICE, DELEGATE, LIMITED), folder_placements=placements),
    )
    endpoint.start()
    try:
        yield EwsRig(world, endpoint)
    finally:
        endpoint.stop()
