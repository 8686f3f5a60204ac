"""Envelope seal/open throughput on one core, with the cost of each step and raw baselines.

seal = build the XML + validate it (lxml XMLSchema) + detached CMS signature
open = hardened parse + validate + read the model + verify the signature + sender/chain trust

Baselines measured in the same run: the bare public-key operation (ECDSA/RSA sign and verify of
a digest with `cryptography`) and bare lxml parse + validate, so the figures say what limits the
pipeline. Run: `.venv/bin/python bench/envelope.py [--seconds 2] [--profile ecdsa rsa]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from lxml import etree

from gateway import envelope, schemas, xmlsafe
from gateway.crypto import (
    PROFILES,
    CmsSigner,
    PrivateKey,
    TrustPolicy,
    TrustStore,
    issue_certificate,
    new_ca,
)
from gateway.model import (
    Document,
    FileRef,
    FileRole,
    Link,
    LinkKind,
    Message,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
)
from gateway.sealing import open_envelope, seal

ANNOTATION = (
    "О ходе реализации региональной программы капитального ремонта общего имущества в "
    "многоквартирных домах и о предоставлении сведений по форме мониторинга. "
)


def twenty_kb_letter() -> Message:
    """A realistic letter of about 20 KB of envelope XML: long annotation, many people and files."""
    rostov = Organization(
        "Минстрой Ростовской области",
        full_name="Министерство строительства, архитектуры и территориального развития "
        "Ростовской области",
        inn="6163000001",
        ogrn="1026103000001",
        region="61",
    )
    sakha = Organization("Минстрой РС(Я)", inn="1435000001", region="14")
    files: list[FileRef] = []
    for i in range(6):
        role = FileRole.MAIN if i == 0 else FileRole.ATTACHMENT
        name = f"приложение-{i}.pdf"
        files.append(FileRef(f"f{i}", role, name, "application/pdf", 102400 + i, f"{i:x}" * 64))
        files.append(
            FileRef(
                f"s{i}",
                FileRole.SIGNATURE,
                name + ".sig",
                "application/pkcs7-signature",
                2048,
                f"{i + 1:x}" * 64,
                signature_of=f"f{i}",
            )
        )
    doc = Document(
        uid="6b1c0f4e-61aa-4d1e-9a61-0000000a0001",
        kind="Письмо",
        sender=rostov,
        registration=Registration("61-01/4512", dt.date(2026, 11, 20)),
        title="О капитальном ремонте",
        annotation=ANNOTATION * 55,
        signatories=(
            Signatory(Person(rostov, "Иванов Иван Иванович", "Министр"), dt.date(2026, 11, 20)),
        ),
        addressees=tuple(
            Person(sakha, f"Адресат {i}", "Заместитель министра", "Управление ЖКХ")
            for i in range(8)
        ),
        pages=12,
        links=(Link(LinkKind.ON_NUMBER, number="14-02/77", date=dt.date(2026, 10, 1)),),
        subscriptions=(NotificationKind.REGISTERED, NotificationKind.REFUSED),
        files=tuple(files),
    )
    now = dt.datetime.now(dt.UTC)
    return Message("5f0e8a2c-7d41-4f7e-8a61-000000000001", now, "ru-61", "ru-14", doc,
                   expires=now + dt.timedelta(days=7), correlation_id="corr-1")  # fmt: skip


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``func`` over about ``seconds``."""
    func()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            func()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def raw_operations(
    key: PrivateKey, digest: bytes
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Bare sign and verify of a precomputed SHA-256 digest: the floor under the CMS layer."""
    prehashed = Prehashed(hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_pub = key.public_key()
        ec_sig = key.sign(digest, ec.ECDSA(prehashed))
        return (
            lambda: key.sign(digest, ec.ECDSA(prehashed)),
            lambda: ec_pub.verify(ec_sig, digest, ec.ECDSA(prehashed)),
        )
    rsa_pub = key.public_key()
    rsa_sig = key.sign(digest, padding.PKCS1v15(), prehashed)
    return (
        lambda: key.sign(digest, padding.PKCS1v15(), prehashed),
        lambda: rsa_pub.verify(rsa_sig, digest, padding.PKCS1v15(), prehashed),
    )


def measure(profile: str, message: Message, seconds: float) -> dict[str, float]:
    ca_cert, ca_key = new_ca(profile=profile)
    cert, key = issue_certificate(ca_cert, ca_key, "ru-61", "Ростовская область", profile=profile)
    signer = CmsSigner(cert, key, rsa_pss=profile == "rsa-pss")
    trust = TrustPolicy(TrustStore([ca_cert]), {"ru-61": [cert]})
    sealed = seal(message, signer)
    assert open_envelope(sealed.envelope, sealed.signature, trust).message == message
    data, signature = sealed.envelope, sealed.signature
    raw_sign, raw_verify = raw_operations(key, hashlib.sha256(data).digest())
    steps: dict[str, Callable[[], object]] = {
        "seal (encode + validate + sign)": lambda: seal(message, signer),
        "  encode + validate": lambda: envelope.encode(message),
        "  CMS sign (CmsSigner)": lambda: signer.sign(data),
        "  baseline: raw sign of a digest": raw_sign,
        "open (parse + validate + verify + trust)": lambda: open_envelope(data, signature, trust),
        "  parse + validate + read model": lambda: envelope.decode(data),
        "  verify + trust (TrustPolicy.verify_from)": lambda: trust.verify_from(
            "ru-61", data, signature
        ),
        "  baseline: raw verify of a digest": raw_verify,
    }
    results = {}
    for name, func in steps.items():
        results[name] = rate(func, seconds)
        print(f"{profile:>10}  {name:<44} {results[name]:>9,.0f} /s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--profile", nargs="+", default=["ecdsa", "rsa"], choices=PROFILES)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says

    message = twenty_kb_letter()
    data = envelope.encode(message)
    print(f"envelope: {len(data):,} bytes of XML, {len(message.files)} manifest entries; one core")
    results = {profile: measure(profile, message, args.seconds) for profile in args.profile}

    parse_only = lambda: etree.fromstring(data)  # noqa: E731
    safe_and_valid = lambda: schemas.validate(xmlsafe.parse(data), schemas.Kind.ENVELOPE)  # noqa: E731
    for name, func in (
        ("  baseline: bare lxml parse", parse_only),
        ("  baseline: safe parse + XMLSchema validate", safe_and_valid),
    ):
        print(f"{'lxml':>10}  {name:<44} {rate(func, args.seconds):>9,.0f} /s")
    if "ecdsa" in results:
        ecdsa = results["ecdsa"]
        for what, target in (("seal", 2500), ("open", 1500)):
            got = next(v for k, v in ecdsa.items() if k.startswith(what))
            verdict = "meets" if got >= target else "MISSES"
            print(f"target ECDSA P-256 {what} >= {target:,}/s: {got:,.0f}/s {verdict} it")


if __name__ == "__main__":
    main()
