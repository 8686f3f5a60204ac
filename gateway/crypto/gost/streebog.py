"""Streebog (GOST R 34.11-2012) hashing through the engine, with hashlib's interface.

A file is hashed in 1 MiB reads into one reusable buffer, so neither a large file nor a Python
object per chunk is ever held; the GIL is released while the engine hashes. The standard's
byte order needs no care here: the engine takes and returns bytes in the order ``openssl dgst``
prints them (RFC 6986 prints its test vectors reversed, see the known-answer tests).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import AsyncIterator
from typing import BinaryIO

from gateway.crypto.gost._lib import Lib, lib

_CHUNK = 1 << 20
# Algorithm name -> (digest OID, size in bytes).
DIGESTS = {
    "streebog256": ("1.2.643.7.1.1.2.2", 32),
    "streebog512": ("1.2.643.7.1.1.2.3", 64),
}
_mds: dict[str, int] = {}
_md_lock = threading.Lock()


def md(name: str) -> tuple[Lib, int]:
    """The engine's EVP_MD for "streebog256" or "streebog512", looked up once."""
    found = lib()
    cached = _mds.get(name)
    if cached is None:
        with _md_lock:
            digest = found.ENGINE_get_digest(found.engine, found.nid(DIGESTS[name][0]))
            if not digest:
                raise found.fail(f"the GOST engine offers no {name}")
            cached = _mds[name] = digest
    return found, cached


class Streebog:
    """``hashlib``-like: ``update``, ``digest``, ``hexdigest``, ``copy``."""

    __slots__ = ("_ctx", "_lib", "digest_size", "name")

    def __init__(self, name: str = "streebog256", data: bytes = b"") -> None:
        if name not in DIGESTS:
            raise ValueError(f"unknown Streebog variant {name!r}")
        self._lib, digest = md(name)
        self.name = name
        self.digest_size = DIGESTS[name][1]
        self._ctx = self._lib.EVP_MD_CTX_new()
        if not self._ctx or not self._lib.EVP_DigestInit_ex(self._ctx, digest, self._lib.engine):
            raise self._lib.fail(f"{name} cannot be started")
        if data:
            self.update(data)

    def __del__(self) -> None:
        ctx = getattr(self, "_ctx", None)
        if ctx:
            self._lib.EVP_MD_CTX_free(ctx)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytes):
            pointer: int | bytes = data
            size = len(data)
        else:
            view = memoryview(data).cast("B")
            size = view.nbytes
            if not size:
                return
            if view.readonly:
                pointer = bytes(view)
            else:
                pointer = ctypes.addressof(ctypes.c_char.from_buffer(view))
        if not self._lib.EVP_DigestUpdate(self._ctx, pointer, size):
            raise self._lib.fail(f"{self.name} failed")

    def digest(self) -> bytes:
        # Finalising a copy keeps this hash usable, as hashlib's digest() does.
        copy = self.copy()
        out = ctypes.create_string_buffer(self.digest_size)
        if not self._lib.EVP_DigestFinal_ex(copy._ctx, out, None):
            raise self._lib.fail(f"{self.name} failed")
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> Streebog:
        clone = object.__new__(Streebog)
        clone._lib, clone.name, clone.digest_size = self._lib, self.name, self.digest_size
        clone._ctx = self._lib.EVP_MD_CTX_new()
        if not clone._ctx or not self._lib.EVP_MD_CTX_copy_ex(clone._ctx, self._ctx):
            raise self._lib.fail(f"{self.name} cannot be copied")
        return clone


def digest(data: bytes, name: str = "streebog256") -> bytes:
    """The digest of ``data`` in one foreign call."""
    found, evp_md = md(name)
    out = ctypes.create_string_buffer(DIGESTS[name][1])
    if not found.EVP_Digest(data, len(data), out, None, evp_md, found.engine):
        raise found.fail(f"{name} failed")
    return out.raw


def digest_stream(stream: BinaryIO, name: str = "streebog256") -> bytes:
    """The digest of everything left in ``stream``, read in chunks into one buffer."""
    hasher = Streebog(name)
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
        return hasher.digest()
    update, ctx = hasher._lib.EVP_DigestUpdate, hasher._ctx
    while count := readinto(view):
        if not update(ctx, address, count):
            raise hasher._lib.fail(f"{name} failed")
    return hasher.digest()


async def hashed(chunks: AsyncIterator[bytes], hasher: Streebog) -> AsyncIterator[bytes]:
    """``chunks`` passed on unchanged, each hashed on the way (a file streamed into the blob
    store gets its Streebog digest in the same pass as its SHA-256)."""
    async for chunk in chunks:
        hasher.update(chunk)
        yield chunk
