"""gateway.crypto.trust: chain validation, participant ownership, rollover and expiry warnings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from gateway.crypto import PrivateKey, TrustPolicy, TrustStore, demo
from gateway.crypto import trust as trust_module
from gateway.errors import ConfigError, SignatureError, TrustError

if TYPE_CHECKING:
    from conftest import Party, Pki


def _ca_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(False, False, False, False, False, cert_sign, True, False, False)


def _sub_ca(
    issuer: tuple[x509.Certificate, PrivateKey],
    name: str,
    *,
    path_length: int | None = None,
    cert_sign: bool = True,
    days: int = 365,
    not_before: datetime | None = None,
    extra: x509.ExtensionType | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """An intermediate CA certificate (demo.py makes only roots and end entities)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_usage(cert_sign=cert_sign), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(issuer[1], hashes.SHA256()), key


def _pair(party: Party) -> tuple[x509.Certificate, PrivateKey]:
    return party.cert, party.key


def _error(call: Callable[[], object]) -> TrustError:
    with pytest.raises(TrustError) as error:
        call()
    return error.value


def _names(error: TrustError, cert: x509.Certificate) -> bool:
    return (
        cert.subject.rfc4514_string() in error.message
        and f"serial {cert.serial_number:x}" in error.message
    )


# --- TrustStore ------------------------------------------------------------------------------


def test_leaf_chains_to_its_anchor(pki: Pki, alice: Party, now: datetime) -> None:
    store = TrustStore([pki.ca.cert])
    assert store.validate(alice.cert, at=now) == (alice.cert, pki.ca.cert)
    # Certificates sent along (the signer's own, the root again) change nothing.
    chain = store.validate(alice.cert, at=now, intermediates=[alice.cert, pki.ca.cert])
    assert chain == (alice.cert, pki.ca.cert)


def test_chain_through_an_intermediate(pki: Pki, now: datetime) -> None:
    sub_cert, sub_key = _sub_ca(_pair(pki.ca), "Regional Sub CA")
    leaf, _ = demo.issue_certificate(sub_cert, sub_key, "carol", "Org")
    store = TrustStore([pki.ca.cert])
    assert store.validate(leaf, at=now, intermediates=[sub_cert]) == (
        leaf,
        sub_cert,
        pki.ca.cert,
    )
    error = _error(lambda: store.validate(leaf, at=now))
    assert "does not chain to a trust anchor" in error.message and _names(error, leaf)

    deeper_cert, deeper_key = _sub_ca((sub_cert, sub_key), "Deeper CA")
    deep_leaf, _ = demo.issue_certificate(deeper_cert, deeper_key, "dave", "Org")
    pool = [deeper_cert, sub_cert]
    assert len(store.validate(deep_leaf, at=now, intermediates=pool)) == 4
    error = _error(
        lambda: TrustStore([pki.ca.cert], max_depth=3).validate(
            deep_leaf, at=now, intermediates=pool
        )
    )
    assert "within 3 certificates" in error.message


def test_path_length_constraint(pki: Pki, now: datetime) -> None:
    sub_cert, sub_key = _sub_ca(_pair(pki.ca), "No Sub-CAs Below", path_length=0)
    deeper_cert, deeper_key = _sub_ca((sub_cert, sub_key), "Forbidden CA")
    leaf, _ = demo.issue_certificate(deeper_cert, deeper_key, "erin", "Org")
    store = TrustStore([pki.ca.cert])
    error = _error(lambda: store.validate(leaf, at=now, intermediates=[deeper_cert, sub_cert]))
    assert "allows 0 intermediate CAs" in error.message and _names(error, sub_cert)


def test_leaf_may_itself_be_an_anchor(alice: Party, now: datetime) -> None:
    assert TrustStore([alice.cert]).validate(alice.cert, at=now) == (alice.cert,)


def test_expired_and_not_yet_valid(pki: Pki, alice: Party) -> None:
    store = TrustStore([pki.ca.cert])
    after = alice.cert.not_valid_after_utc + timedelta(seconds=1)
    error = _error(lambda: store.validate(alice.cert, at=after))
    assert _names(error, alice.cert)
    assert f"expired on {alice.cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC" in error.message

    before = alice.cert.not_valid_before_utc - timedelta(seconds=1)
    error = _error(lambda: store.validate(alice.cert, at=before))
    assert _names(error, alice.cert) and "is not yet valid" in error.message


def test_expired_intermediate_is_named(pki: Pki, now: datetime) -> None:
    sub_cert, sub_key = _sub_ca(
        _pair(pki.ca), "Short Sub CA", days=10, not_before=now - timedelta(days=20)
    )
    leaf, _ = demo.issue_certificate(sub_cert, sub_key, "frank", "Org")
    error = _error(
        lambda: TrustStore([pki.ca.cert]).validate(leaf, at=now, intermediates=[sub_cert])
    )
    assert _names(error, sub_cert) and "expired on" in error.message


def test_issuer_must_be_a_ca(pki: Pki, alice: Party, now: datetime) -> None:
    leaf, _ = demo.issue_certificate(alice.cert, alice.key, "mallory", "Org")
    error = _error(
        lambda: TrustStore([pki.ca.cert]).validate(leaf, at=now, intermediates=[alice.cert])
    )
    assert _names(error, alice.cert) and "is not a CA" in error.message


def test_issuer_key_usage_must_allow_certificate_signing(pki: Pki, now: datetime) -> None:
    sub_cert, sub_key = _sub_ca(_pair(pki.ca), "CRL-only CA", cert_sign=False)
    leaf, _ = demo.issue_certificate(sub_cert, sub_key, "gina", "Org")
    error = _error(
        lambda: TrustStore([pki.ca.cert]).validate(leaf, at=now, intermediates=[sub_cert])
    )
    assert _names(error, sub_cert) and "does not allow signing certificates" in error.message


def test_leaf_key_usage_must_allow_signing(pki: Pki, now: datetime) -> None:
    # The CA certificate has keyCertSign and cRLSign only: it may not sign documents.
    error = _error(lambda: TrustStore([pki.ca.cert]).validate(pki.ca.cert, at=now))
    assert _names(error, pki.ca.cert) and "digitalSignature" in error.message


def test_unknown_critical_extension_is_refused(pki: Pki, now: datetime) -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    sub_cert, sub_key = _sub_ca(_pair(pki.ca), "Odd CA", extra=odd)
    leaf, _ = demo.issue_certificate(sub_cert, sub_key, "hank", "Org")
    error = _error(
        lambda: TrustStore([pki.ca.cert]).validate(leaf, at=now, intermediates=[sub_cert])
    )
    assert _names(error, sub_cert) and "1.3.6.1.4.1.99999.1" in error.message


def test_other_ca_and_impostor_ca_do_not_chain(pki: Pki, other_pki: Pki, now: datetime) -> None:
    store = TrustStore([pki.ca.cert])
    stranger = other_pki.issue("stranger")
    error = _error(lambda: store.validate(stranger.cert, at=now))
    assert _names(error, stranger.cert) and "does not chain to a trust anchor" in error.message

    # Same CA name, different key: names match, the key identifier and signature do not.
    impostor_cert, impostor_key = demo.new_ca("Demo CA")
    assert impostor_cert.subject == pki.ca.cert.subject
    forged, _ = demo.issue_certificate(impostor_cert, impostor_key, "alice", "Org of alice")
    error = _error(lambda: store.validate(forged, at=now))
    assert _names(error, forged) and "names another issuer key" in error.message
    # Sent along, the impostor CA is a candidate issuer, but it is no anchor and nothing
    # trusted issued it.
    error = _error(lambda: store.validate(forged, at=now, intermediates=[impostor_cert]))
    assert _names(error, impostor_cert) and "does not verify" in error.message


def test_successful_chains_are_cached_but_windows_rechecked(
    pki: Pki, alice: Party, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TrustStore([pki.ca.cert])
    chain = store.validate(alice.cert, at=now)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the chain was built again")

    monkeypatch.setattr(trust_module, "_link_problem", fail)
    assert store.validate(alice.cert, at=now + timedelta(days=1)) == chain
    error = _error(lambda: store.validate(alice.cert, at=now + timedelta(days=5000)))
    assert "expired on" in error.message


def test_naive_validation_time_is_a_programming_error(pki: Pki, alice: Party) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TrustStore([pki.ca.cert]).validate(alice.cert, at=datetime.now())


# --- TrustPolicy -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy(pki: Pki, alice: Party, bob: Party) -> TrustPolicy:
    return TrustPolicy(TrustStore([pki.ca.cert]), {"alice": [alice.cert], "bob": [bob.cert]})


def test_signature_of_the_claimed_participant_is_accepted(
    policy: TrustPolicy, alice: Party, content: bytes
) -> None:
    verified = policy.verify_from("alice", content, alice.sign(content))
    assert verified.certificate == alice.cert


def test_signature_by_another_participant_is_a_sender_mismatch(
    policy: TrustPolicy, bob: Party, content: bytes
) -> None:
    error = _error(lambda: policy.verify_from("alice", content, bob.sign(content)))
    assert error.code == "signature.sender_mismatch"
    assert "participant 'bob', but the message claims 'alice'" in error.message


def test_signature_by_an_unregistered_certificate(
    policy: TrustPolicy, pki: Pki, content: bytes
) -> None:
    stranger = pki.issue("stranger")  # same CA, so only registration tells them apart
    error = _error(lambda: policy.verify_from("alice", content, stranger.sign(content)))
    assert error.code == "signature.unknown_signer" and _names(error, stranger.cert)


def test_unknown_participant(policy: TrustPolicy, alice: Party, content: bytes) -> None:
    error = _error(lambda: policy.verify_from("nobody", content, alice.sign(content)))
    assert error.code == "signature.unknown_participant" and "'nobody'" in error.message


def test_registered_certificate_of_an_untrusted_ca(
    pki: Pki, other_pki: Pki, content: bytes
) -> None:
    outsider = other_pki.issue("outsider")
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"outsider": [outsider.cert]})
    error = _error(lambda: policy.verify_from("outsider", content, outsider.sign(content)))
    assert error.code == "signature.untrusted" and "does not chain" in error.message


def test_expired_certificate(pki: Pki, now: datetime, content: bytes) -> None:
    expired = pki.issue("late", not_before=now - timedelta(days=400), days=365)
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"late": [expired.cert]})
    error = _error(lambda: policy.verify_from("late", content, expired.sign(content)))
    assert error.code == "signature.untrusted"
    assert "expired on" in error.message and _names(error, expired.cert)


def test_changed_content_through_the_policy(
    policy: TrustPolicy, alice: Party, content: bytes
) -> None:
    with pytest.raises(SignatureError) as error:
        policy.verify_from("alice", content + b" ", alice.sign(content))
    assert error.value.code == "signature.invalid" and not isinstance(error.value, TrustError)


def test_signature_without_certificates_uses_the_registered_ones(
    policy: TrustPolicy, alice: Party, content: bytes, sign_with: Callable[..., bytes]
) -> None:
    signature = sign_with(
        alice, content, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCerts
    )
    assert policy.verify_from("alice", content, signature).certificate == alice.cert


def test_signing_time_in_the_future_is_refused(
    policy: TrustPolicy, alice: Party, content: bytes, now: datetime
) -> None:
    signature = alice.sign(content)
    error = _error(
        lambda: policy.verify_from("alice", content, signature, now=now - timedelta(hours=1))
    )
    assert "in the future" in error.message


def test_verify_any_checks_the_chain_only(
    policy: TrustPolicy, pki: Pki, other_pki: Pki, content: bytes
) -> None:
    unregistered = pki.issue("walk-in")
    assert policy.verify_any(content, unregistered.sign(content)).certificate == unregistered.cert
    outsider = other_pki.issue("outsider")
    error = _error(lambda: policy.verify_any(content, outsider.sign(content)))
    assert error.code == "signature.untrusted"


def test_one_certificate_for_two_participants_is_a_config_error(pki: Pki, alice: Party) -> None:
    with pytest.raises(ConfigError, match="registered for both 'a' and 'b'"):
        TrustPolicy(TrustStore([pki.ca.cert]), {"a": [alice.cert], "b": [alice.cert]})


# --- rollover ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rollover(pki: Pki, now: datetime) -> tuple[TrustPolicy, Party, Party]:
    """Participant "river" mid-rollover: the old certificate ends in 10 days, the new one
    started 10 days ago."""
    old = pki.issue("river", not_before=now - timedelta(days=365), days=375)
    new = pki.issue("river", not_before=now - timedelta(days=10), days=710)
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"river": [old.cert, new.cert]})
    return policy, old, new


def test_rollover_overlap_accepts_both(
    rollover: tuple[TrustPolicy, Party, Party], content: bytes
) -> None:
    policy, old, new = rollover
    assert policy.verify_from("river", content, old.sign(content)).certificate == old.cert
    assert policy.verify_from("river", content, new.sign(content)).certificate == new.cert


def test_rollover_after_the_old_expiry_only_the_new_verifies(
    rollover: tuple[TrustPolicy, Party, Party],
    content: bytes,
    now: datetime,
    sign_with: Callable[..., bytes],
) -> None:
    policy, old, new = rollover
    later = now + timedelta(days=20)
    # Without a signingTime the validation time is `now`: 20 days on, the old one has expired.
    plain = (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes)
    error = _error(
        lambda: policy.verify_from("river", content, sign_with(old, content, *plain), now=later)
    )
    assert "expired on" in error.message and _names(error, old.cert)
    verified = policy.verify_from("river", content, sign_with(new, content, *plain), now=later)
    assert verified.certificate == new.cert


def test_validation_happens_at_the_signing_time(
    rollover: tuple[TrustPolicy, Party, Party], content: bytes, now: datetime
) -> None:
    # A signature made (signingTime) while the old certificate was valid still verifies after
    # it expired; the same key signing after the expiry would carry a later signingTime.
    policy, old, _ = rollover
    signature = old.sign(content)
    verified = policy.verify_from("river", content, signature, now=now + timedelta(days=20))
    assert verified.certificate == old.cert


def test_signing_after_the_old_certificate_expired(pki: Pki, now: datetime, content: bytes) -> None:
    # signingTime (now) is after the old certificate's notAfter: refused, the new one accepted.
    old = pki.issue("lake", not_before=now - timedelta(days=365), days=364)
    new = pki.issue("lake", not_before=now - timedelta(days=10), days=710)
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"lake": [old.cert, new.cert]})
    error = _error(lambda: policy.verify_from("lake", content, old.sign(content)))
    assert "expired on" in error.message and _names(error, old.cert)
    assert policy.verify_from("lake", content, new.sign(content)).certificate == new.cert


def test_expiring_lists_soonest_first(
    rollover: tuple[TrustPolicy, Party, Party], now: datetime
) -> None:
    policy, old, new = rollover
    soon = policy.expiring(timedelta(days=30), now=now)
    assert [(item.participant_id, item.certificate) for item in soon] == [("river", old.cert)]
    everything = policy.expiring(timedelta(days=800), now=now)
    assert [item.certificate for item in everything] == [old.cert, new.cert]
    assert policy.expiring(timedelta(days=1), now=now) == []


def test_issuer_search_is_bounded(pki: Pki, alice: Party, now: datetime) -> None:
    # The certificate list of a signature is unsigned: a sender can stuff it with CAs that all
    # bear the issuer's name. The search gives up after a fixed number of candidates.
    decoys = [demo.new_ca("Demo CA")[0] for _ in range(40)]
    store = TrustStore([demo.new_ca("Unrelated Root")[0]])
    error = _error(lambda: store.validate(alice.cert, at=now, intermediates=decoys))
    assert "too many candidate issuers" in error.message and _names(error, alice.cert)
