"""The wire format between gateways, as constants: path, part ids, headers, limits, errors.

Both ends import these names, so the server, the client and ``docs/protocol.md`` ("Transport")
cannot drift apart. This module holds no I/O and imports nothing from aiohttp: the receiver
(domain code) reads its limits and raises its errors from here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from gateway.errors import GatewayError

#: The wire endpoint is mounted under this prefix (the major protocol version is in it).
PREFIX: Final = "/gw/v1"
#: The route inside the prefix; a peer's endpoint URL ends with PREFIX + MESSAGES.
MESSAGES: Final = "/messages"
PATH: Final = PREFIX + MESSAGES

#: Request body: multipart/related (RFC 2387) whose root part is the envelope.
MULTIPART_SUBTYPE: Final = "related"
ROOT_TYPE: Final = "application/xml"

#: Content-IDs (without the angle brackets) of the two leading parts; every further part is
#: named by its manifest file id.
ENVELOPE_ID: Final = "envelope"
SIGNATURE_ID: Final = "envelope.p7s"

ENVELOPE_MEDIA_TYPE: Final = "application/xml"
SIGNATURE_MEDIA_TYPE: Final = "application/pkcs7-signature"
FILE_MEDIA_TYPE: Final = "application/octet-stream"

#: Answers: the body is a receipt or an error document (XML); this header carries its detached
#: CMS signature, DER in base64 (one line, no padding stripped).
SIGNATURE_HEADER: Final = "Gateway-Signature"
ANSWER_MEDIA_TYPE: Final = "application/xml"

#: The most bytes asked for in one read of a part or a blob (a read may return fewer).
CHUNK: Final = 1 << 20


def content_id(value: str) -> str:
    """The header form of a Content-ID (RFC 2392 keeps the angle brackets)."""
    return f"<{value}>"


def parse_content_id(header: str | None) -> str | None:
    """The id inside a Content-ID header, or None when there is none or it is not bracketed."""
    if header is None:
        return None
    value = header.strip()
    if len(value) < 3 or value[0] != "<" or value[-1] != ">":
        return None
    return value[1:-1]


@dataclass(frozen=True)
class Limits:
    """What one inbound request may cost a receiving gateway.

    Every size is checked while reading, and checked up front where the request declares it
    (the request's Content-Length, a part's Content-Length, the signed manifest's sizes), so a
    request over a limit is refused before its bytes are read.
    """

    max_request_bytes: int = 4 << 30  # the whole body; DESIGN §5 requires 2 GiB files to pass
    max_envelope_bytes: int = 16 << 20  # the xmlsafe default for one XML document
    max_signature_bytes: int = 1 << 20  # a CMS signature with its chain is a few KiB
    max_files: int = 10_000  # the schema's own bound on manifest entries
    max_concurrent: int = 256  # requests in progress; the next one gets 503 (no queueing)
    # Small files that all requests in progress hold in memory until their commit; beyond
    # this, a small file streams into the blob store as a large one does.
    max_held_bytes: int = 256 << 20
    retry_after: int = 5  # seconds, sent with 503
    read_timeout: float = 60.0  # seconds without a byte from the peer, then 408
    max_age: dt.timedelta = dt.timedelta(days=30)  # older envelopes are replays (unless known)
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)  # how far Created may be in the future

    def __post_init__(self) -> None:
        for name in (
            "max_request_bytes",
            "max_envelope_bytes",
            "max_signature_bytes",
            "max_files",
            "max_concurrent",
            "max_held_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be positive")


class WireError(GatewayError):
    """The request does not follow the wire protocol."""

    code = "request.malformed"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, http_status: int = 400) -> None:
        super().__init__(message, code=code)
        # An instance override of the class default, like ``code`` in GatewayError: which
        # status a refusal gets depends on the case (413 for sizes, 409 for a conflict …).
        self.http_status = http_status  # type: ignore[misc]
