"""The options of the sev adapter (its ``[[adapters]]`` table in gateway.toml)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gateway.model import Organization


@dataclass(frozen=True)
class SevConfig:
    outgoing: Path  # ДЕЛО's outgoing folder: the gateway picks packages up here
    incoming: Path  # ДЕЛО's incoming folder: the gateway writes packages here
    poll_interval: float = 1.0  # seconds between looks at ``outgoing``
    quiet: float = 1.0  # seconds a package must be unchanged before it is taken
    # Header/Sender/EDMS of what the gateway writes: the system ДЕЛО sees as the sender.
    edms_uid: str = "7F3C2A9E5B1D4E0F8A6C3B2D1E0F9A8B"
    edms_name: str = "Межрегиональный шлюз документооборота"
    edms_version: str = "1.0"
    # This participant, named as the sender of reports that name no author (the gateway's
    # own "not delivered" notices) and as recipient when a package names none.
    organization: str = "Межрегиональный шлюз документооборота"
    organization_uid: str | None = None
    # Hours east of UTC of ДЕЛО's clock: times ДЕЛО writes without an offset are read in it,
    # and the times we write are given in it (always with the offset). Moscow time: 3.
    utc_offset: float = 3.0

    @property
    def zone(self) -> dt.tzinfo:
        return dt.timezone(dt.timedelta(hours=self.utc_offset))

    @property
    def own_organization(self) -> Organization:
        return Organization(short_name=self.organization, uid=self.organization_uid)
