"""Writing the few DER shapes a CMS SignedData needs, by hand (the reading side is
:mod:`gateway.crypto.der`).

The signers fill templates: everything but the signing time, the message digest and the
signature value is encoded once per signer, so a signature costs a digest, one public-key
operation and a few byte joins. Lengths are computed as the parts are joined (an ECDSA value
varies by a byte or two), so no template needs fixed-size holes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

NULL = b"\x05\x00"
INT_1 = b"\x02\x01\x01"  # the version number 1 of SignedData and SignerInfo

ID_DATA = "1.2.840.113549.1.7.1"
SIGNED_DATA = "1.2.840.113549.1.7.2"
CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_TIME = "1.2.840.113549.1.9.5"


def tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(encoded))) + encoded + body


def seq(body: bytes) -> bytes:
    return tlv(0x30, body)


@functools.lru_cache(maxsize=64)
def oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


@functools.lru_cache(maxsize=4)
def signing_time(second: int) -> bytes:
    """The signingTime attribute's value for a whole second (cached: many per second)."""
    moment = time.gmtime(second)
    if 1950 <= moment.tm_year < 2050:  # RFC 5652 §11.3: UTCTime in these years
        return tlv(0x17, time.strftime("%y%m%d%H%M%SZ", moment).encode("ascii"))
    return tlv(0x18, time.strftime("%Y%m%d%H%M%SZ", moment).encode("ascii"))


class SignedDataTemplate:
    """A detached SignedData for one signer, all but three values encoded once.

    ``sid`` is the signer's IssuerAndSerialNumber (DER), ``digest_algorithm`` and
    ``signature_algorithm`` AlgorithmIdentifiers (DER), ``certificates`` the DER certificates
    to embed (a SET OF: DER orders them by their encodings, as the builders do).
    """

    def __init__(
        self, sid: bytes, digest_algorithm: bytes, signature_algorithm: bytes,
        certificates: Sequence[bytes],
    ) -> None:  # fmt: skip
        self._content_type = seq(oid(CONTENT_TYPE) + tlv(0x31, oid(ID_DATA)))
        self._time_head = oid(SIGNING_TIME)
        self._digest_head = oid(MESSAGE_DIGEST)
        self._info_head = INT_1 + sid + digest_algorithm
        self._signature_algorithm = signature_algorithm
        self._data_head = (
            INT_1 + tlv(0x31, digest_algorithm) + seq(oid(ID_DATA))
            + tlv(0xA0, b"".join(sorted(certificates)))
        )
        self._content_info_head = oid(SIGNED_DATA)

    def signed_attributes(self, content_digest: bytes, when: float) -> bytes:
        """The signed attributes' contents, in DER order (a SET OF sorts by encoding)."""
        attributes = sorted((
            self._content_type,
            seq(self._time_head + tlv(0x31, signing_time(int(when)))),
            seq(self._digest_head + tlv(0x31, tlv(0x04, content_digest))),
        ))  # fmt: skip
        return b"".join(attributes)

    @staticmethod
    def to_be_signed(attributes: bytes) -> bytes:
        """What the signature covers: the attributes as a SET (tag 0x31); they travel as [0]."""
        return tlv(0x31, attributes)

    def assemble(self, attributes: bytes, value: bytes) -> bytes:
        info = seq(
            self._info_head + tlv(0xA0, attributes) + self._signature_algorithm
            + tlv(0x04, value)
        )  # fmt: skip
        return seq(self._content_info_head + tlv(0xA0, seq(self._data_head + tlv(0x31, info))))
