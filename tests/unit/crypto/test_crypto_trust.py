"""gateway.crypto.trust: chain validation, participant ownership, rollover and expiry warnings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.crypto import CmsSigner, PrivateKey, TrustPolicy, TrustStore, demo
from gateway.crypto import chains as chains_module
from gateway.errors import ConfigError, SignatureError, TrustError
from tests.unit.crypto.helpers import signed_at

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
    key: PrivateKey | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """An intermediate CA certificate (demo.py makes only roots and end entities)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
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


def _leaf_with_purposes(
    pki: Pki, name: str, purposes: list[x509.ObjectIdentifier]
) -> tuple[x509.Certificate, PrivateKey]:
    """An end-entity certificate like the demo ones, with this extended key usage."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(pki.ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    )
    return builder.sign(pki.ca.key, hashes.SHA256()), key


@pytest.mark.parametrize(
    ("purposes", "refused"),
    [
        ([ExtendedKeyUsageOID.SERVER_AUTH], "serverAuth"),
        (
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            "serverAuth, clientAuth",
        ),
        ([x509.ObjectIdentifier("1.2.643.2.2.34.6")], "1.2.643.2.2.34.6"),
        ([ExtendedKeyUsageOID.EMAIL_PROTECTION], None),
        ([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION], None),
        ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], None),
    ],
)
def test_leaf_extended_key_usage_must_allow_signing(
    pki: Pki, now: datetime, purposes: list[x509.ObjectIdentifier], refused: str | None
) -> None:
    # What openssl cms accepts by default (smimesign): no EKU, emailProtection or anyEKU.
    leaf, _ = _leaf_with_purposes(pki, "tls-server", purposes)
    store = TrustStore([pki.ca.cert])
    if refused is None:
        assert store.validate(leaf, at=now) == (leaf, pki.ca.cert)
        return
    error = _error(lambda: store.validate(leaf, at=now))
    assert _names(error, leaf)
    assert f"extended key usage that does not allow signing documents: {refused}" in (error.message)


def test_leaf_extended_key_usage_through_the_policy(pki: Pki, content: bytes) -> None:
    cert, key = _leaf_with_purposes(pki, "web", [ExtendedKeyUsageOID.SERVER_AUTH])
    signature = CmsSigner(cert, key).sign(content)
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"web": [cert]})
    error = _error(lambda: policy.verify_from("web", content, signature))
    assert error.code == "signature.untrusted" and "serverAuth" in error.message


def test_weak_keys_in_the_chain_are_refused(pki: Pki, now: datetime) -> None:
    weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    sub_cert, sub_key = _sub_ca(_pair(pki.ca), "Weak Sub CA", key=weak_rsa)
    leaf, _ = demo.issue_certificate(sub_cert, sub_key, "ivan", "Org")
    store = TrustStore([pki.ca.cert])
    error = _error(lambda: store.validate(leaf, at=now, intermediates=[sub_cert]))
    assert _names(error, sub_cert) and "RSA key of 1024 bits" in error.message

    k1_cert, k1_key = _sub_ca(
        _pair(pki.ca), "K1 Sub CA", key=ec.generate_private_key(ec.SECP256K1())
    )
    leaf, _ = demo.issue_certificate(k1_cert, k1_key, "judy", "Org")
    error = _error(lambda: store.validate(leaf, at=now, intermediates=[k1_cert]))
    assert _names(error, k1_cert) and "curve secp256k1" in error.message

    # A weak trust anchor is no better: it verifies the chain's first link.
    weak_root, weak_root_key = _sub_ca(_pair(pki.ca), "Weak Root", key=weak_rsa)
    leaf, _ = demo.issue_certificate(weak_root, weak_root_key, "kate", "Org")
    error = _error(lambda: TrustStore([weak_root]).validate(leaf, at=now))
    assert _names(error, weak_root) and "RSA key of 1024 bits" in error.message

    # And the leaf itself.
    weak_leaf, _ = demo.issue_certificate(pki.ca.cert, pki.ca.key, "leo", "Org", key=weak_rsa)
    error = _error(lambda: store.validate(weak_leaf, at=now))
    assert _names(error, weak_leaf) and "RSA key of 1024 bits" in error.message


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

    monkeypatch.setattr(chains_module, "_link_problem", fail)
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
    policy: TrustPolicy, pki: Pki, alice: Party, content: bytes
) -> None:
    stranger = pki.issue("stranger")  # same CA, so only registration tells them apart
    assert stranger.cert.public_key() != alice.cert.public_key()  # nor a shared key
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
    pki: Pki, now: datetime, content: bytes, sign_with: Callable[..., bytes]
) -> None:
    # "lake" rolled over: the old certificate expired yesterday, the new one started 10 days
    # ago. Signatures made now carry signingTime = now, after the old one's notAfter.
    old = pki.issue("lake", not_before=now - timedelta(days=366), days=365)
    new = pki.issue("lake", not_before=now - timedelta(days=10), days=710)
    assert old.cert.not_valid_after_utc < now
    policy = TrustPolicy(TrustStore([pki.ca.cert]), {"lake": [old.cert, new.cert]})
    week = now - timedelta(days=7)
    error = _error(lambda: policy.verify_from("lake", content, old.sign(content), oldest=week))
    assert error.code == "signature.untrusted"
    assert "expired on" in error.message and _names(error, old.cert)
    verified = policy.verify_from("lake", content, new.sign(content), oldest=week)
    assert verified.certificate == new.cert and verified.signing_time is not None

    # Without a signingTime the validation time is `now`: the same outcome.
    plain = (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes)
    unsigned_time = sign_with(old, content, *plain)
    error = _error(lambda: policy.verify_from("lake", content, unsigned_time, oldest=week))
    assert "expired on" in error.message and _names(error, old.cert)
    verified = policy.verify_from("lake", content, sign_with(new, content, *plain), oldest=week)
    assert verified.certificate == new.cert and verified.signing_time is None


def test_a_signature_is_checked_at_its_signing_time_within_the_window(
    rollover: tuple[TrustPolicy, Party, Party], content: bytes, now: datetime
) -> None:
    # Signed now with the old certificate (valid for 10 more days), delivered 20 days later,
    # after the old certificate expired: validation happens at the signingTime, but only a
    # signingTime inside the receiver's window (`oldest`) is believed.
    policy, old, _ = rollover
    signature = old.sign(content)
    later = now + timedelta(days=20)
    oldest = later - timedelta(days=30)
    verified = policy.verify_from("river", content, signature, now=later, oldest=oldest)
    assert verified.certificate == old.cert

    oldest = later - timedelta(days=7)
    error = _error(
        lambda: policy.verify_from("river", content, signature, now=later, oldest=oldest)
    )
    assert error.code == "signature.too_old"
    assert verified.signing_time is not None
    assert f"made at {verified.signing_time:%Y-%m-%d %H:%M:%S} UTC" in error.message
    assert f"before {oldest:%Y-%m-%d %H:%M:%S} UTC, the oldest signing time" in error.message
    error = _error(lambda: policy.verify_any(content, signature, now=later, oldest=oldest))
    assert error.code == "signature.too_old"


@pytest.fixture(scope="module")
def expired(pki: Pki, now: datetime) -> tuple[TrustPolicy, Party]:
    """Participant "pond", whose only certificate expired two days ago; its key still exists."""
    party = pki.issue("pond", not_before=now - timedelta(days=400), days=398)
    return TrustPolicy(TrustStore([pki.ca.cert]), {"pond": [party.cert]}), party


def test_a_backdated_signature_beyond_the_window_is_refused(
    expired: tuple[TrustPolicy, Party], content: bytes, now: datetime
) -> None:
    # The holder of the expired key signs new content today and claims a signingTime when the
    # certificate was valid. Beyond the window that is refused whatever the certificate says.
    policy, pond = expired
    backdated = signed_at(pond, content, now - timedelta(days=30))
    oldest = now - timedelta(days=7, minutes=5)
    error = _error(lambda: policy.verify_from("pond", content, backdated, now=now, oldest=oldest))
    assert error.code == "signature.too_old"
    assert f"made at {now - timedelta(days=30):%Y-%m-%d %H:%M}" in error.message
    assert f"before {oldest:%Y-%m-%d %H:%M:%S} UTC" in error.message
    error = _error(lambda: policy.verify_any(content, backdated, now=now, oldest=oldest))
    assert error.code == "signature.too_old"
    # Unbounded (no `oldest`: callers that check signatures from outside must pass one), the
    # backdated signature would pass: this is what the window is for.
    assert policy.verify_from("pond", content, backdated, now=now).certificate == pond.cert


def test_a_backdated_signature_within_the_window_is_accepted(
    expired: tuple[TrustPolicy, Party], content: bytes, now: datetime
) -> None:
    # Documented behaviour: a signingTime inside the window, when the certificate was valid,
    # is accepted. An honest envelope sealed three days ago (before the expiry) and delivered
    # now looks exactly the same, so the exposure of an expired key is bounded by the window.
    policy, pond = expired
    oldest = now - timedelta(days=7, minutes=5)
    three_days_ago = signed_at(pond, content, now - timedelta(days=3))
    verified = policy.verify_from("pond", content, three_days_ago, now=now, oldest=oldest)
    assert verified.certificate == pond.cert
    assert verified.signing_time is not None
    assert verified.signing_time < pond.cert.not_valid_after_utc < now

    # Inside the window but after the expiry: the certificate was no longer valid then.
    yesterday = signed_at(pond, content, now - timedelta(days=1))
    error = _error(lambda: policy.verify_from("pond", content, yesterday, now=now, oldest=oldest))
    assert error.code == "signature.untrusted" and "expired on" in error.message
    # Before the certificate began: not yet valid then.
    too_early = signed_at(pond, content, pond.cert.not_valid_before_utc - timedelta(hours=1))
    error = _error(lambda: policy.verify_from("pond", content, too_early, now=now))
    assert "is not yet valid" in error.message


def test_a_signature_without_signing_time_is_checked_now_whatever_oldest_says(
    expired: tuple[TrustPolicy, Party],
    alice: Party,
    content: bytes,
    now: datetime,
    sign_with: Callable[..., bytes],
) -> None:
    policy, pond = expired
    plain = (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes)
    oldest = now - timedelta(days=7)
    error = _error(
        lambda: policy.verify_from(
            "pond", content, sign_with(pond, content, *plain), now=now, oldest=oldest
        )
    )
    assert error.code == "signature.untrusted" and "expired on" in error.message
    verified = policy.verify_any(content, sign_with(alice, content, *plain), oldest=oldest)
    assert verified.certificate == alice.cert


def test_naive_now_or_oldest_is_a_programming_error(
    expired: tuple[TrustPolicy, Party], content: bytes
) -> None:
    policy, pond = expired
    signature = pond.sign(content)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.verify_from("pond", content, signature, oldest=datetime.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.verify_any(content, signature, now=datetime.now())


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
