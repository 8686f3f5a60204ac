"""Whom we trust: which participant owns which certificate, and when a signature counts.

``TrustPolicy`` adds to the chains of :mod:`gateway.crypto.chains` the rule of DESIGN §11: a
message is accepted only when signed by a certificate registered for the very participant it
claims to come from. It never accepts a signature whose chain could not be built.

The chain is validated at the signature's signingTime, because an envelope may be delivered
days after it was sealed (a peer down for a week) and a certificate may expire or be rolled
over meanwhile. The signingTime is chosen by the signer, though: whoever holds the key of an
expired certificate can sign today and claim a time when it was still valid. So the policy
takes ``oldest``, the earliest signingTime it accepts (``signature.too_old`` before it); the
receiving gateway passes its replay window (30 days + clock skew by default), which bounds that
exposure to the window: an expired key's new signatures verify only during the window after
its certificate's notAfter. Without ``oldest`` the signing time is not bounded, so every caller
checking signatures from outside must pass it. A signature without signingTime is validated at
``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from cryptography import x509

from gateway.crypto.chains import TrustStore, when
from gateway.crypto.cms import describe
from gateway.crypto.verifier import VerifiedSignature, verify_detached
from gateway.errors import ConfigError, TrustError

_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ParticipantCertificate:
    participant_id: str
    certificate: x509.Certificate


class TrustPolicy:
    """Signature acceptance: the right participant's certificate, chaining to an anchor."""

    def __init__(
        self, store: TrustStore, participants: Mapping[str, Sequence[x509.Certificate]]
    ) -> None:
        self._store = store
        self._registered = {pid: tuple(certs) for pid, certs in participants.items()}
        # Keyed by the certificate itself: certificates compare and hash by their DER, which is
        # the same as comparing SHA-256 fingerprints, at a fifth of the cost per message.
        self._owners: dict[x509.Certificate, str] = {}
        for pid, certs in self._registered.items():
            for cert in certs:
                owner = self._owners.setdefault(cert, pid)
                if owner != pid:
                    raise ConfigError(
                        f"certificate {describe(cert)} is registered for both {owner!r} and "
                        f"{pid!r}; a certificate must identify one participant"
                    )

    def verify_from(
        self,
        participant_id: str,
        content: bytes | BinaryIO,
        signature: bytes,
        *,
        now: datetime | None = None,
        oldest: datetime | None = None,
    ) -> VerifiedSignature:
        """The signature of ``participant_id`` over ``content``, verified and trusted.

        The chain is validated at the signingTime, which must not be before ``oldest`` (see the
        module documentation: callers checking signatures from outside pass their replay
        window), nor in the future; without a signingTime, at ``now``.
        """
        registered = self._registered.get(participant_id)
        if registered is None:
            raise TrustError(
                f"participant {participant_id!r} is not registered",
                code="signature.unknown_participant",
            )
        signatures = verify_detached(signature, content, certificates=registered)
        for verified in signatures:
            if self._owners.get(verified.certificate) == participant_id:
                self._validate(verified, now, oldest)
                return verified
        cert = signatures[0].certificate
        owner = self._owners.get(cert)
        if owner is not None:
            raise TrustError(
                f"signed by a certificate of participant {owner!r}, but the message claims "
                f"{participant_id!r}",
                code="signature.sender_mismatch",
            )
        raise TrustError(
            f"signed by certificate {describe(cert)}, which is registered for no participant",
            code="signature.unknown_signer",
        )

    def verify_any(
        self,
        content: bytes | BinaryIO,
        signature: bytes,
        *,
        now: datetime | None = None,
        oldest: datetime | None = None,
    ) -> VerifiedSignature:
        """Any detached signature whose every signer chains to an anchor; no participant check.

        ``now`` and ``oldest`` as for :meth:`verify_from`."""
        signatures = verify_detached(signature, content)
        for verified in signatures:
            self._validate(verified, now, oldest)
        return signatures[0]

    def expiring(
        self, within: timedelta, *, now: datetime | None = None
    ) -> list[ParticipantCertificate]:
        """Registered certificates whose notAfter is before ``now + within`` (expired included),
        soonest first."""
        limit = (now or datetime.now(UTC)) + within
        found = [
            ParticipantCertificate(pid, cert)
            for pid, certs in self._registered.items()
            for cert in certs
            if cert.not_valid_after_utc <= limit
        ]
        return sorted(found, key=lambda item: item.certificate.not_valid_after_utc)

    def _validate(
        self, verified: VerifiedSignature, now: datetime | None, oldest: datetime | None
    ) -> None:
        if (now is not None and now.tzinfo is None) or (
            oldest is not None and oldest.tzinfo is None
        ):
            raise ValueError("now and oldest must be timezone-aware")
        current = now or datetime.now(UTC)
        at = verified.signing_time
        if at is None:
            at = current  # nothing to bound: the certificate must be valid now
        elif at > current + _CLOCK_SKEW:
            raise TrustError(
                f"the signature claims to be made at {when(at)}, which is in the future"
            )
        elif oldest is not None and at < oldest:
            raise TrustError(
                f"the signature was made at {when(at)}, before {when(oldest)}, the oldest "
                "signing time accepted",
                code="signature.too_old",
            )
        self._store.validate(verified.certificate, at=at, intermediates=verified.certificates)
