"""The template signer writes what cryptography's PKCS7SignatureBuilder writes (but the
signing time and the signature value), and streams files without holding them."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, issue_certificate, new_ca
from gateway.crypto.signer import _OPTIONS


def layout(signature: bytes) -> dict[str, Any]:
    data = cms.ContentInfo.load(signature)["content"]
    info = data["signer_infos"][0]
    return {
        "version": data["version"].native,
        "digest_algorithms": data["digest_algorithms"].dump(),
        "content": data["encap_content_info"].dump(),
        "certificates": [c.dump() for c in data["certificates"]],
        "info_version": info["version"].native,
        "sid": info["sid"].dump(),
        "digest_algorithm": info["digest_algorithm"].dump(),
        "signature_algorithm": info["signature_algorithm"].dump(),
        "attributes": [a["type"].native for a in info["signed_attrs"]],
        "message_digest": info["signed_attrs"][2]["values"][0].native,
    }


@pytest.mark.parametrize("profile", ["ecdsa", "ecdsa-p384", "rsa"])
def test_the_template_writes_the_builders_layout(profile: str) -> None:
    ca, ca_key = new_ca("Template CA")
    cert, key = issue_certificate(ca, ca_key, "ru-61", "Ростов", profile=profile)
    content = os.urandom(5000)
    ours = CmsSigner(cert, key, chain=[ca]).sign(content)
    theirs = (
        pkcs7.PKCS7SignatureBuilder().set_data(content)
        .add_signer(cert, key, hashes.SHA256()).add_certificate(ca)
        .sign(serialization.Encoding.DER, _OPTIONS)
    )  # fmt: skip
    assert layout(ours) == layout(theirs)
    policy = TrustPolicy(TrustStore([ca]), {"ru-61": [cert]})
    assert policy.verify_from("ru-61", content, ours).certificate == cert


def test_a_streamed_file_gets_the_same_signature_as_its_bytes() -> None:
    ca, ca_key = new_ca("Template CA")
    cert, key = issue_certificate(ca, ca_key, "ru-61", "Ростов", profile="ecdsa")
    signer = CmsSigner(cert, key)
    content = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    streamed = signer.sign_stream(io.BytesIO(content))
    assert layout(streamed)["message_digest"] == layout(signer.sign(content))["message_digest"]
    policy = TrustPolicy(TrustStore([ca]), {"ru-61": [cert]})
    policy.verify_from("ru-61", content, streamed)
