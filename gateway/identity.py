"""This gateway's cryptographic identity, assembled from its configuration.

Loads our signing key and certificate (once; keys are cached by :mod:`gateway.crypto.keys`)
and the trust policy for the network: trust anchors plus each participant's registered
certificates. :func:`check` is what ``gateway config check`` reports. Nothing here ever prints
or returns key material.
"""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway import config as cfg
from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, load_certificates
from gateway.crypto.cms import describe
from gateway.crypto.demo import GOST_PROFILES
from gateway.crypto.gost import cms as gost_cms
from gateway.errors import ConfigError, GatewayError
from gateway.routing import Router

EXPIRY_WARNING = dt.timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    config: cfg.GatewayConfig
    participants: tuple[cfg.Participant, ...]
    signer: CmsSigner
    trust: TrustPolicy
    router: Router


def signer_for(keys: cfg.KeyConfig) -> CmsSigner:
    return CmsSigner.from_files(
        keys.certificate, keys.private_key, rsa_pss=keys.profile == "rsa-pss"
    )


def trust_store(anchor_files: Sequence[Path]) -> TrustStore:
    return TrustStore([cert for path in anchor_files for cert in load_certificates(path)])


def trust_policy(
    anchor_files: Sequence[Path], participants: Sequence[cfg.Participant]
) -> TrustPolicy:
    registered = {
        p.id: [cert for path in p.certificates for cert in load_certificates(path)]
        for p in participants
    }
    return TrustPolicy(trust_store(anchor_files), registered)


def load(config_path: str | Path) -> Identity:
    """Everything needed to seal and open envelopes; raises GatewayError naming what is wrong."""
    config = cfg.load(config_path)
    participants = cfg.load_participants(config.participants_file)
    signer = signer_for(config.keys)
    mismatch = _profile_mismatch(config.keys.profile, signer.certificate)
    if mismatch:
        raise ConfigError(mismatch, file=str(config.path), key="keys.profile")
    return Identity(
        config=config,
        participants=participants,
        signer=signer,
        trust=_named(config, lambda: trust_policy(config.keys.trust_anchors, participants)),
        router=Router(participants),
    )


def _named(config: cfg.GatewayConfig, build: Callable[[], TrustPolicy]) -> TrustPolicy:
    """Building the policy finds registration conflicts; say which file they are in."""
    try:
        return build()
    except ConfigError as exc:
        if exc.file:
            raise
        raise ConfigError(
            exc.message, file=str(config.participants_file), key="participant.certificates"
        ) from None


def _profile_mismatch(profile: str, certificate: x509.Certificate) -> str | None:
    gost = gost_cms.key_profile(certificate)  # cryptography cannot read a GOST key
    if gost is not None or profile in GOST_PROFILES:
        if gost == profile:
            return None
        return f"profile {profile!r} does not match our certificate's key ({gost or 'not GOST'})"
    key = certificate.public_key()
    if profile in ("rsa", "rsa-pss"):
        ok = isinstance(key, rsa.RSAPublicKey)
    else:
        curve = "secp384r1" if profile == "ecdsa-p384" else "secp256r1"
        ok = isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == curve
    if ok:
        return None
    if isinstance(key, rsa.RSAPublicKey):
        kind = f"RSA-{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = f"EC {key.curve.name}"
    else:
        kind = type(key).__name__
    return f"profile {profile!r} does not match our certificate's key ({kind})"


Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


def check(config_path: str | Path, *, now: dt.datetime | None = None) -> Iterator[Finding]:
    """Every check ``gateway config check`` runs, as findings; stops early only when it must."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        config = cfg.load(config_path)
        yield Finding("ok", f"{config.path}: readable, participant {config.participant!r}")
        participants = cfg.load_participants(config.participants_file)
        yield Finding("ok", f"{config.participants_file}: {len(participants)} participants")
        signer = signer_for(config.keys)
        yield Finding("ok", f"our key matches our certificate {describe(signer.certificate)}")
        trust = _named(config, lambda: trust_policy(config.keys.trust_anchors, participants))
    except GatewayError as exc:
        yield Finding("error", str(exc))
        return
    mode = stat.S_IMODE(config.keys.private_key.stat().st_mode)
    if mode & 0o077:
        yield Finding(
            "warning",
            f"{config.keys.private_key} is readable by others (mode {mode:o}); chmod 600 it",
        )
    mismatch = _profile_mismatch(config.keys.profile, signer.certificate)
    if mismatch:
        yield Finding("error", f"{config.path}: keys.profile: {mismatch}")
    store = trust_store(config.keys.trust_anchors)
    if config.participant not in {p.id for p in participants}:
        yield Finding(
            "warning",
            f"participant {config.participant!r} (this gateway) is not in "
            f"{config.participants_file.name}; peers need its certificates to accept our envelopes",
        )
    ours_listed = next((p for p in participants if p.id == config.participant), None)
    if ours_listed is not None:
        yield from _endpoint_scheme(config, ours_listed.endpoint)
    for participant in participants:
        certs = [c for path in participant.certificates for c in load_certificates(path)]
        if participant.id == config.participant and signer.certificate not in certs:
            yield Finding(
                "error",
                f"our certificate {describe(signer.certificate)} is not among the certificates "
                f"registered for {participant.id!r} in {config.participants_file.name}",
            )
        current = [c for c in certs if c.not_valid_before_utc <= now <= c.not_valid_after_utc]
        if not current:
            yield Finding(
                "error",
                f"participant {participant.id!r} has no certificate valid on "
                f"{now:%Y-%m-%d %H:%M} UTC",
            )
        for cert in certs:
            if cert.not_valid_after_utc < now or cert.not_valid_before_utc > now:
                continue
            try:
                store.validate(cert, at=now)
            except GatewayError as exc:
                yield Finding("error", f"participant {participant.id!r}: {exc.message}")
        if current:
            yield Finding(
                "ok", f"participant {participant.id!r}: {len(current)} valid certificate(s)"
            )
    for item in trust.expiring(EXPIRY_WARNING, now=now):
        when = item.certificate.not_valid_after_utc
        state = "expired" if when < now else "expires"
        yield Finding(
            "warning",
            f"participant {item.participant_id!r}: certificate {describe(item.certificate)} "
            f"{state} on {when:%Y-%m-%d %H:%M} UTC",
        )
    ours = signer.certificate.not_valid_after_utc
    if ours < now:
        yield Finding("error", f"our own certificate expired on {ours:%Y-%m-%d %H:%M} UTC")
    elif ours - now < EXPIRY_WARNING:
        yield Finding("warning", f"our own certificate expires on {ours:%Y-%m-%d %H:%M} UTC")
    yield from _check_adapters(config)


def _endpoint_scheme(config: cfg.GatewayConfig, endpoint: str) -> Iterator[Finding]:
    """Peers reach us at the endpoint the network file gives; say so when it cannot be us."""
    served = "https" if config.tls is not None else "http"
    listed = endpoint.partition("://")[0].lower()
    if listed == "https" and served == "http":
        yield Finding(
            "warning",
            f"{config.participants_file.name} gives our endpoint as {endpoint}, but this gateway "
            "serves plain HTTP (no [tls]); fine behind a proxy that terminates TLS, otherwise "
            "peers cannot connect",
        )
    elif listed == "http" and served == "https":
        yield Finding(
            "warning",
            f"{config.participants_file.name} gives our endpoint as {endpoint}, but this gateway "
            "serves HTTPS ([tls]); peers will fail to connect",
        )


def _check_adapters(config: cfg.GatewayConfig) -> Iterator[Finding]:
    from gateway.bridge import instantiate_config  # adapters are optional for the rest

    exporting = 0
    for entry in config.adapters:
        try:
            described, _ = instantiate_config(entry, config.path)
        except GatewayError as exc:
            yield Finding("error", str(exc))
            continue
        exporting += described.cls.capabilities.export
        yield Finding("ok", f"adapter {entry.id!r}: {described.name} ({described.origin})")
    if config.adapters and not exporting:
        yield Finding(
            "warning",
            "no adapter exports inbound messages; they go to the hand-off folder "
            f"{config.handoff_folder or config.data_dir / 'inbox'}",
        )
