"""GOST R 34.10-2012 keys: generate, read and write (PKCS#8, SubjectPublicKeyInfo), sign, verify.

A key object owns one engine EVP_PKEY and one prepared signing or verifying context, made once:
preparing a context costs more than the signature itself, and a ctypes call costs about a
microsecond, so signing is two foreign calls (hash, sign). A context serves one thread at a
time, hence the lock.

Byte order, where the engine keeps it for us (and why nothing here reverses bytes): the engine
reads a digest as a little-endian number (GOST R 34.10 §6.1) and writes the signature as
``s || r``, each big-endian, which is the order RFC 4491 §2.2.2 (certificates) and RFC 4490
(CMS) put on the wire; public keys in SubjectPublicKeyInfo are little-endian ``x || y``. Hashing
with Streebog and signing through the engine therefore yields exactly what ``openssl cms`` writes.
Private key bytes are never put into an error, a log line or a repr.
"""

from __future__ import annotations

import base64
import ctypes
import re
import threading

from gateway.crypto.gost._lib import GostError, Lib, lib
from gateway.crypto.gost.streebog import DIGESTS, digest

# Profile -> (key algorithm OID, digest name, parameter set given to the engine's "paramset").
# 256-bit keys on the CryptoPro A curve (what `openssl req -newkey gost2012_256 -pkeyopt
# paramset:A` makes and what most Russian CAs issue), 512-bit keys on the TC26 512 A curve.
KEY_ALGORITHMS = {
    "gost2012": ("1.2.643.7.1.1.1.1", "streebog256", b"A"),
    "gost2012-512": ("1.2.643.7.1.1.1.2", "streebog512", b"A"),
}
_BY_OID = {oid: profile for profile, (oid, _, _) in KEY_ALGORITHMS.items()}
_SIGNATURE_SIZE = {"streebog256": 64, "streebog512": 128}
_PEM = re.compile(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", re.DOTALL)


def profile_of_key_oid(oid: str) -> str | None:
    """ "gost2012" or "gost2012-512" for a GOST 2012 public key algorithm OID, else None."""
    return _BY_OID.get(oid)


class _Key:
    __slots__ = ("_ctx", "_lib", "_lock", "_pkey", "digest_name", "profile")

    def __init__(self, found: Lib, pkey: int) -> None:
        self.profile = _profile(found, pkey)  # frees ``pkey`` when it is not a GOST key
        self._lib = found
        self._pkey = pkey
        self._ctx = 0
        self._lock = threading.Lock()
        self.digest_name = KEY_ALGORITHMS[self.profile][1]

    def __del__(self) -> None:
        found = getattr(self, "_lib", None)
        if found is None:
            return
        if getattr(self, "_ctx", 0):
            found.EVP_PKEY_CTX_free(self._ctx)
        if getattr(self, "_pkey", 0):
            found.EVP_PKEY_free(self._pkey)

    def __repr__(self) -> str:  # never the key itself
        return f"<{type(self).__name__} {self.profile}>"

    def subject_public_key_info(self) -> bytes:
        """The DER SubjectPublicKeyInfo (what a certificate carries)."""
        found = self._lib
        size = found.i2d_PUBKEY(self._pkey, None)
        if size <= 0:
            raise found.fail("the GOST public key cannot be encoded")
        out = ctypes.create_string_buffer(size)
        cursor = ctypes.c_void_p(ctypes.addressof(out))
        if found.i2d_PUBKEY(self._pkey, ctypes.byref(cursor)) != size:
            raise found.fail("the GOST public key cannot be encoded")
        return out.raw

    def _prepared(self, init_name: str) -> int:
        if not self._ctx:
            found = self._lib
            ctx = found.EVP_PKEY_CTX_new(self._pkey, found.engine)
            if not ctx or getattr(found, init_name)(ctx) <= 0:
                if ctx:
                    found.EVP_PKEY_CTX_free(ctx)
                raise found.fail(f"the GOST key cannot be prepared ({init_name})")
            self._ctx = ctx
        return self._ctx


class GostPublicKey(_Key):
    """A GOST R 34.10-2012 public key, from a certificate's SubjectPublicKeyInfo."""

    __slots__ = ()

    @classmethod
    def from_spki(cls, der: bytes) -> GostPublicKey:
        found = lib()
        buffer = ctypes.create_string_buffer(der, len(der))
        cursor = ctypes.c_void_p(ctypes.addressof(buffer))
        pkey = found.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
        if not pkey:
            raise found.fail("not a GOST public key", code="gost.bad_key")
        if cursor.value != ctypes.addressof(buffer) + len(der):
            found.EVP_PKEY_free(pkey)
            raise GostError("bytes after the public key", code="gost.bad_key")
        return cls(found, pkey)

    def verify_digest(self, signature: bytes, hashed: bytes) -> bool:
        """Whether ``signature`` (``s || r`` as the engine writes it) signs the digest."""
        if len(signature) != _SIGNATURE_SIZE[self.digest_name]:
            return False
        with self._lock:
            ctx = self._prepared("EVP_PKEY_verify_init")
            result = self._lib.EVP_PKEY_verify(ctx, signature, len(signature), hashed, len(hashed))
        if result != 1:
            self._lib.ERR_clear_error()
        return bool(result == 1)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` signs the Streebog digest of ``data`` (the key's own size)."""
        return self.verify_digest(signature, digest(data, self.digest_name))


class GostPrivateKey(_Key):
    """A GOST R 34.10-2012 private key, held by the engine."""

    __slots__ = ()

    @classmethod
    def generate(cls, profile: str) -> GostPrivateKey:
        found = lib()
        oid, _, paramset = KEY_ALGORITHMS[profile]
        ctx = found.EVP_PKEY_CTX_new_id(found.nid(oid), found.engine)
        pkey = ctypes.c_void_p()
        try:
            if (
                not ctx
                or found.EVP_PKEY_keygen_init(ctx) <= 0
                or found.EVP_PKEY_CTX_ctrl_str(ctx, b"paramset", paramset) <= 0
                or found.EVP_PKEY_keygen(ctx, ctypes.byref(pkey)) <= 0
            ):
                raise found.fail(f"a {profile} key cannot be generated")
        finally:
            if ctx:
                found.EVP_PKEY_CTX_free(ctx)
        assert pkey.value is not None
        return cls(found, pkey.value)

    @classmethod
    def from_bytes(cls, data: bytes) -> GostPrivateKey:
        """An unencrypted PKCS#8 key, PEM ("PRIVATE KEY") or DER, as `openssl genpkey` writes.

        ``GostError`` (code ``gost.bad_key``) without the engine's reason, which could quote the
        input, when it is not one."""
        found = lib()
        match = _PEM.search(data)
        try:
            der = base64.b64decode(b"".join(match[1].split())) if match else data
        except ValueError:
            raise GostError("not a PEM private key", code="gost.bad_key") from None
        buffer = ctypes.create_string_buffer(der, len(der))
        cursor = ctypes.c_void_p(ctypes.addressof(buffer))
        info = found.d2i_PKCS8_PRIV_KEY_INFO(None, ctypes.byref(cursor), len(der))
        pkey = found.EVP_PKCS82PKEY(info) if info else None
        if info:
            found.PKCS8_PRIV_KEY_INFO_free(info)
        ctypes.memset(buffer, 0, len(der))
        found.ERR_clear_error()
        if not pkey:
            raise GostError("not an unencrypted GOST PKCS#8 private key", code="gost.bad_key")
        try:
            return cls(found, pkey)
        except GostError:
            raise GostError("not a GOST R 34.10-2012 private key", code="gost.bad_key") from None

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (for a file only its owner can read)."""
        found = self._lib
        info = found.EVP_PKEY2PKCS8(self._pkey)
        if not info:
            raise found.fail("the GOST private key cannot be encoded")
        try:
            size = found.i2d_PKCS8_PRIV_KEY_INFO(info, None)
            out = ctypes.create_string_buffer(max(size, 1))
            cursor = ctypes.c_void_p(ctypes.addressof(out))
            if size <= 0 or found.i2d_PKCS8_PRIV_KEY_INFO(info, ctypes.byref(cursor)) != size:
                raise found.fail("the GOST private key cannot be encoded")
            body = base64.encodebytes(out.raw[:size]).replace(b"\n", b"")
            ctypes.memset(out, 0, size)
        finally:
            found.PKCS8_PRIV_KEY_INFO_free(info)
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return (
            b"-----BEGIN PRIVATE KEY-----\n" + b"\n".join(lines) + b"\n-----END PRIVATE KEY-----\n"
        )

    def public_key(self) -> GostPublicKey:
        return GostPublicKey.from_spki(self.subject_public_key_info())

    def sign_digest(self, hashed: bytes) -> bytes:
        """The signature of a Streebog digest of the key's size: ``s || r``, big-endian each."""
        size = _SIGNATURE_SIZE[self.digest_name]
        out = ctypes.create_string_buffer(size)
        length = ctypes.c_size_t(size)
        with self._lock:
            ctx = self._prepared("EVP_PKEY_sign_init")
            ok = self._lib.EVP_PKEY_sign(ctx, out, ctypes.byref(length), hashed, len(hashed))
        if ok <= 0 or length.value != size:
            raise self._lib.fail("the GOST engine did not sign")
        return out.raw

    def sign(self, data: bytes) -> bytes:
        """The signature of the Streebog digest of ``data`` (of the key's size)."""
        return self.sign_digest(digest(data, self.digest_name))


def _profile(found: Lib, pkey: int) -> str:
    nid = found.EVP_PKEY_get_id(pkey)
    for profile, (oid, _, _) in KEY_ALGORITHMS.items():
        if nid == found.nid(oid):
            return profile
    found.EVP_PKEY_free(pkey)
    raise GostError("not a GOST R 34.10-2012 key", code="gost.bad_key")


assert set(_SIGNATURE_SIZE) == set(DIGESTS)
