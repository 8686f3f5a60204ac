"""The ``Header`` every СЭВ message starts with: ids, sender, recipients and resources.

``MessageID`` names this message; ``ReturnID`` is the correlation the sender made, which
every reply copies back. The gateway writes a document with ``ReturnID`` = its own message
id, so that ДЕЛО's reports name the gateway message; and a report about a document ДЕЛО sent
with the ``ReturnID`` ДЕЛО gave it (kept at intake as ``sev.return_id``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from lxml import etree

from adapters.sev.config import SevConfig
from adapters.sev.contacts import write_contact
from adapters.sev.xmlio import VERSION, attr, format_time, sub
from gateway.model import Organization

MESSAGE_RESOURCE = 0  # the message file itself, as Header/@ResourceID names it


def ids_for(context: Mapping[str, str]) -> tuple[str, str]:
    """(MessageID, ReturnID) of a message we write: the gateway message id when exporting,
    else the ids the package was read with (``gateway convert``), else a new GUID."""
    gateway_id = context.get("gateway.message_id")
    if gateway_id:
        return gateway_id, gateway_id
    fresh = uuid.uuid4().hex.upper()
    return context.get("sev.message_id") or fresh, context.get("sev.return_id") or fresh


def write_header(
    tree: etree._Element,
    *,
    message_type: str,
    message_id: str,
    return_id: str,
    time: dt.datetime,
    sender: Organization,
    recipients: Sequence[Organization],
    config: SevConfig,
    files: Sequence[tuple[int, str]],
) -> None:
    """``Header`` under ``tree``; ``files`` are (resource number, file name), the message
    file itself first (as resource 0)."""
    header = sub(
        tree,
        "Header",
        MessageID=message_id,
        Version=VERSION,
        Time=format_time(time, config.zone),
        MessageType=message_type,
        ReturnID=return_id,
        ResourceID=str(MESSAGE_RESOURCE),
    )
    sending = sub(header, "Sender")
    write_contact(sending, sender)
    sub(sending, "EDMS", config.edms_name, UID=config.edms_uid, Version=config.edms_version)
    receiving = sub(header, "Recipient")
    for organization in _distinct(recipients) or [config.own_organization]:
        write_contact(receiving, organization)
    listing = sub(header, "ResourceList")
    for number, name in files:
        sub(listing, "Resource", UID=str(number), UniqueName=name)


def read_ids(header: etree._Element) -> dict[str, str]:
    """The context a reply needs from a header we read."""
    found = {"sev.message_id": attr(header, "MessageID"), "sev.return_id": attr(header, "ReturnID")}
    return {key: value for key, value in found.items() if value}


def _distinct(organizations: Sequence[Organization]) -> list[Organization]:
    seen: list[Organization] = []
    for organization in organizations:
        if organization not in seen:
            seen.append(organization)
    return seen
