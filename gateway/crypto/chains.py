"""Certificate chains: from a signer's certificate up to a trust anchor, valid at a given time.

``TrustStore`` builds the chain (issuer names, key identifiers), checks every link (CA flag,
key usage keyCertSign, pathLen, the signature), refuses weak keys and unknown critical
extensions, and checks each certificate's validity window at the time asked — windows are never
cached, chains are (built once per leaf and set of intermediates). A failure always names the
certificate and the reason. The search is bounded: the certificates a signature carries are not
signed, so a crafted list of same-named CAs must not make it exponential.

A leaf certificate must allow signing documents as ``openssl cms`` requires by default (S/MIME
signing): key usage digitalSignature or nonRepudiation, and, if it has an extended key usage,
emailProtection (or anyExtendedKeyUsage). Keys in the chain must not be weak (RSA under 2048
bits, EC curves other than P-256, P-384, P-521). Certificates signed with GOST R 34.10-2012 are
checked by the GOST engine (:mod:`gateway.crypto.gost.certs`); every other rule is the same.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from gateway.crypto.cms import describe
from gateway.crypto.gost import certs as gost_certs
from gateway.crypto.gost.cms import CERTIFICATE_SIGNATURE_OIDS
from gateway.crypto.verifier import key_problem
from gateway.errors import TrustError

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)
_Chain = tuple[x509.Certificate, ...]

_CACHE_SIZE = 4096
_MAX_CHAINS = 4  # alternative chains kept per leaf, for CA rollovers with two issuers
# Issuer candidates come from the (unsigned) certificate list of the signature; without a bound,
# a crafted list of same-named CAs makes the search exponential.
_MAX_LINK_CHECKS = 32
# Critical extensions whose meaning we apply or which restrict nothing we rely on; any other
# critical extension (name or policy constraints, unknown ones) makes a certificate unusable.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
    }
)
# What a leaf's extended key usage must contain, if it has one: emailProtection, which openssl's
# default purpose for CMS (smimesign) requires; or anyExtendedKeyUsage, any purpose by RFC 5280
# §4.2.1.12 (openssl 3.0 refuses it alone for smimesign; the interop tests record that).
_SIGNING_PURPOSES = frozenset(
    {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
)
_PURPOSE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


class TrustStore:
    """Trust anchors, and chain validation of certificates up to one of them."""

    def __init__(self, anchors: Sequence[x509.Certificate], *, max_depth: int = 6) -> None:
        """``max_depth`` bounds the chain length, leaf and anchor included."""
        self._anchors = tuple(anchors)
        self._anchor_set = frozenset(self._anchors)
        self._max_depth = max_depth
        self._chains: dict[tuple[x509.Certificate, _Chain], tuple[_Chain, ...]] = {}
        self._lock = threading.Lock()

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._anchors

    def validate(
        self,
        certificate: x509.Certificate,
        *,
        at: datetime,
        intermediates: Sequence[x509.Certificate] = (),
    ) -> tuple[x509.Certificate, ...]:
        """The chain ``certificate`` → … → anchor, valid at ``at``; ``TrustError`` otherwise."""
        if at.tzinfo is None:
            raise ValueError("validation time must be timezone-aware")
        key = (certificate, tuple(intermediates))
        with self._lock:
            chains = self._chains.get(key)
        if chains is None:
            # Building is time-independent (names, key identifiers, CA flags, signatures), so
            # its result is cached; validity windows depend on `at` and are checked below.
            chains = self._build(certificate, key[1])
            with self._lock:
                if len(self._chains) >= _CACHE_SIZE:
                    del self._chains[next(iter(self._chains))]
                self._chains[key] = chains
        problems = []
        for chain in chains:
            problem = _outside_window(chain, at)
            if problem is None:
                return chain
            problems.append(problem)
        raise problems[0]  # _build never returns an empty tuple

    def _build(self, leaf: x509.Certificate, pool: _Chain) -> tuple[_Chain, ...]:
        _check_critical(leaf)
        usage = _extension(leaf, x509.KeyUsage)
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            raise _untrusted(
                leaf, "has a key usage that allows neither digitalSignature nor nonRepudiation"
            )
        purposes = _extension(leaf, x509.ExtendedKeyUsage)
        if purposes is not None and not _SIGNING_PURPOSES.intersection(purposes):
            raise _untrusted(
                leaf,
                f"has an extended key usage that does not allow signing documents: "
                f"{_purpose_names(list(purposes))}",
            )
        weak = _key_problem(leaf)
        if weak is not None:
            raise _untrusted(leaf, weak)
        found: list[_Chain] = []
        failures: list[tuple[int, TrustError]] = []
        budget = _MAX_LINK_CHECKS

        def walk(path: list[x509.Certificate]) -> None:
            nonlocal budget
            cert = path[-1]
            if cert in self._anchor_set:
                found.append(tuple(path))
                return
            if len(path) >= self._max_depth:
                why = f"does not reach a trust anchor within {self._max_depth} certificates"
                failures.append((len(path), _untrusted(cert, why)))
                return
            issuers = [c for c in self._issuers(cert, pool) if c not in path]
            if not issuers:
                why = (
                    f"does not chain to a trust anchor: its issuer {cert.issuer.rfc4514_string()} "
                    "is neither a trust anchor nor among the certificates sent with the signature"
                )
                failures.append((len(path), _untrusted(cert, why)))
                return
            for issuer in issuers:
                if budget == 0:
                    # An incomplete search proves nothing either way; say so, not a guess.
                    raise _untrusted(
                        cert, "cannot be checked: the signature carries too many candidate issuers"
                    )
                budget -= 1
                problem = _link_problem(cert, issuer, intermediates_below=len(path) - 1)
                if problem is not None:
                    failures.append((len(path), problem))
                    continue
                walk([*path, issuer])
                if len(found) >= _MAX_CHAINS:
                    return

        walk([leaf])
        if not found:
            # The failure that got furthest up the chain says the most about what is missing.
            raise max(failures, key=lambda failure: failure[0])[1]
        return tuple(found)

    def _issuers(self, cert: x509.Certificate, pool: _Chain) -> list[x509.Certificate]:
        candidates = [anchor for anchor in self._anchors if anchor.subject == cert.issuer]
        candidates += [c for c in pool if c.subject == cert.issuer and c not in candidates]
        return candidates


def _link_problem(
    cert: x509.Certificate, issuer: x509.Certificate, *, intermediates_below: int
) -> TrustError | None:
    """Why ``issuer`` cannot have issued ``cert``, or None if it did."""
    try:
        return _check_link(cert, issuer, intermediates_below=intermediates_below)
    except TrustError as problem:  # a malformed candidate must not stop the search for others
        return problem


def _check_link(
    cert: x509.Certificate, issuer: x509.Certificate, *, intermediates_below: int
) -> TrustError | None:
    authority = _extension(cert, x509.AuthorityKeyIdentifier)
    subject_key = _extension(issuer, x509.SubjectKeyIdentifier)
    if (
        authority is not None
        and authority.key_identifier is not None
        and subject_key is not None
        and authority.key_identifier != subject_key.digest
    ):
        return _untrusted(cert, f"names another issuer key than that of {describe(issuer)}")
    _check_critical(issuer)
    weak = _key_problem(issuer)
    if weak is not None:
        return _untrusted(issuer, weak)
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return _untrusted(issuer, f"is not a CA, so it cannot have issued {describe(cert)}")
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        return _untrusted(
            issuer,
            f"allows {constraints.path_length} intermediate CAs below it, the chain has "
            f"{intermediates_below}",
        )
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return _untrusted(issuer, "has a key usage that does not allow signing certificates")
    if cert.signature_algorithm_oid.dotted_string in CERTIFICATE_SIGNATURE_OIDS:
        # cryptography cannot check a GOST signature; the engine can (GostUnavailableError
        # without it, which stops the search: no other candidate could be checked either).
        gost_problem = gost_certs.check_issued_by(cert, issuer)
        return None if gost_problem is None else _untrusted(cert, gost_problem)
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return _untrusted(cert, f"has a signature that does not verify with {describe(issuer)}")
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return _untrusted(cert, f"has a signature that cannot be checked: {exc}")
    return None


def _outside_window(chain: _Chain, at: datetime) -> TrustError | None:
    for cert in chain:
        if at < cert.not_valid_before_utc:
            return _untrusted(
                cert,
                f"is not yet valid at {when(at)} (valid from {when(cert.not_valid_before_utc)})",
            )
        if at > cert.not_valid_after_utc:
            return _untrusted(
                cert, f"expired on {when(cert.not_valid_after_utc)} (checked at {when(at)})"
            )
    return None


def _check_critical(cert: x509.Certificate) -> None:
    for extension in _extensions(cert):
        if extension.critical and extension.oid not in _UNDERSTOOD:
            raise _untrusted(
                cert,
                f"has a critical extension {extension.oid.dotted_string} the gateway "
                "does not apply",
            )


def _key_problem(cert: x509.Certificate) -> str | None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None  # reported where the key is used: verifying a signature made with it
    return key_problem(key)


def _purpose_names(purposes: list[x509.ObjectIdentifier]) -> str:
    # The list comes from the sender's certificate: keep the message short.
    names = [_PURPOSE_NAMES.get(oid, oid.dotted_string) for oid in purposes[:6]]
    return ", ".join(names) + (", …" if len(purposes) > 6 else "") if names else "(none)"


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    for extension in _extensions(cert):
        if isinstance(extension.value, kind):
            return extension.value
    return None


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        return cert.extensions
    except ValueError as exc:
        raise _untrusted(cert, f"has malformed extensions: {exc}") from None


def _untrusted(cert: x509.Certificate, why: str) -> TrustError:
    return TrustError(f"certificate {describe(cert)} {why}")


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
