"""Sealing and opening envelopes: the codec and the signature, in the one order that is safe.

``seal`` = encode + validate + detached CMS signature over the exact bytes (DESIGN §3 step 3).
``open_envelope`` = hardened parse + validate + signature by a certificate registered for the
participant the envelope names as sender, chaining to the anchors at signing time (step 5). The
envelope's claimed sender is only believed once the signature proves it. Parsing and schema
validation come first: they are cheaper than a signature check and hardened for hostile input,
and the sender must be read from the envelope before its certificates can be chosen. Whether
the envelope is for us, fresh enough, or a duplicate is the receiver's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway import envelope, xmlsafe
from gateway.crypto import CmsSigner, TrustPolicy, VerifiedSignature
from gateway.model import Message


@dataclass(frozen=True)
class Sealed:
    message: Message
    envelope: bytes  # the exact bytes that were signed
    signature: bytes  # detached CMS SignedData, DER


@dataclass(frozen=True)
class Opened:
    message: Message
    signature: VerifiedSignature


def seal(message: Message, signer: CmsSigner) -> Sealed:
    data = envelope.encode(message)
    return Sealed(message, data, signer.sign(data))


def open_envelope(
    data: bytes,
    signature: bytes,
    trust: TrustPolicy,
    *,
    max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
    oldest: dt.datetime | None = None,
) -> Opened:
    """Raises XmlSecurityError, SchemaError, SignatureError or TrustError (each with its code).

    ``oldest``: the earliest signing time accepted (the receiver's replay window). Without it,
    the holder of an expired key could backdate a signature to when its certificate was valid.
    """
    message = envelope.decode(data, max_bytes=max_bytes)
    return Opened(message, verify_sender(message, data, signature, trust, oldest=oldest))


def verify_sender(
    message: Message,
    data: bytes,
    signature: bytes,
    trust: TrustPolicy,
    *,
    oldest: dt.datetime | None = None,
) -> VerifiedSignature:
    """The signature over ``data`` (the envelope ``message`` was decoded from) by a certificate
    of the participant it names as sender, valid at a signing time not before ``oldest``."""
    return trust.verify_from(message.sender, data, signature, oldest=oldest)
