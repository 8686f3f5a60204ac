"""Checking the officials' own detached signatures (``.sig``/``.p7s``) of a message's files.

These signatures are the legally significant ones (DESIGN §6): they travel byte for byte and the
gateway never re-signs them; on request (``gateway verify``, the console's message page) it
says whether each still verifies, by whom, and why not. Any profile the verifier knows is
checked (GOST R 34.10-2012 with the engine, RSA, ECDSA). The answer is a value, never an
exception: a bad official signature is a fact to show an operator, not a failure of the gateway.
Files are read in chunks; nothing is logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from gateway.crypto.chains import TrustStore
from gateway.crypto.trust import TrustPolicy
from gateway.crypto.verifier import MAX_SIGNATURE_SIZE, load_signature
from gateway.errors import GatewayError
from gateway.model import FileRef


@dataclass(frozen=True)
class OfficialSignature:
    """What the check of one official signature found."""

    valid: bool
    signer: str | None  # the signer certificate's subject (RFC 4514), when it could be read
    signing_time: datetime | None
    algorithm: str | None  # e.g. "gost2012-256 with streebog256"
    reason: str | None  # why it is not valid; None when it is
    code: str | None = None  # the error code of that reason


def verify_official(
    file_path: str | os.PathLike[str],
    signature_path: str | os.PathLike[str],
    anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> OfficialSignature:
    """Check ``signature_path`` as a detached signature of ``file_path`` whose signers chain to
    ``anchors`` (validity windows at the signing time)."""
    try:
        with open(signature_path, "rb") as handle:
            raw = handle.read(2 * MAX_SIGNATURE_SIZE + 1)
        signature = load_signature(raw)
        policy = TrustPolicy(TrustStore(anchors), {})
        with open(file_path, "rb") as content:
            verified = policy.verify_any(content, signature, now=now)
    except GatewayError as exc:
        return OfficialSignature(False, None, None, None, exc.message, exc.code)
    except OSError as exc:
        return OfficialSignature(
            False, None, None, None, f"cannot be read: {exc.strerror}", "file.unreadable"
        )
    return OfficialSignature(
        valid=True,
        signer=verified.certificate.subject.rfc4514_string(),
        signing_time=verified.signing_time,
        algorithm=f"{verified.signature_algorithm} with {verified.digest_algorithm}",
        reason=None,
    )


def verify_message_files(
    files: Sequence[FileRef],
    path_of: Callable[[FileRef], str | os.PathLike[str]],
    anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> dict[str, OfficialSignature]:
    """Each signature file of a message's manifest (``signature_of`` set) checked against the
    file it signs, keyed by the signature file's id; ``path_of`` says where a file's bytes are
    (e.g. the blob store's local path for its SHA-256). The console's message page shows these."""
    by_id = {ref.id: ref for ref in files}
    results = {}
    for ref in files:
        signed = by_id.get(ref.signature_of or "")
        if signed is None:
            continue
        results[ref.id] = verify_official(path_of(signed), path_of(ref), anchors, now=now)
    return results
