"""The GOST R 34.10-2012 / 34.11-2012 profile, through the reference OpenSSL GOST engine.

The engine (Debian package ``libengine-gost-openssl``) is bound in-process with ctypes
(:mod:`._lib`); importing this package never loads it, so a gateway without it runs every other
profile. The first GOST operation raises ``GostUnavailableError`` (code ``gost.unavailable``)
naming the package; :func:`problem` says in advance. Modules: Streebog hashing (streebog),
keys (keys), CMS signing and signature values (cms), certificates (certs).
"""

from gateway.crypto.gost._lib import PACKAGE, GostError, GostUnavailableError, problem
from gateway.crypto.gost.keys import KEY_ALGORITHMS, GostPrivateKey, GostPublicKey
from gateway.crypto.gost.streebog import Streebog, digest_stream

PROFILES = tuple(KEY_ALGORITHMS)


def available() -> bool:
    """Whether the engine is installed and works."""
    return problem() is None


__all__ = [
    "PACKAGE",
    "PROFILES",
    "GostError",
    "GostPrivateKey",
    "GostPublicKey",
    "GostUnavailableError",
    "Streebog",
    "available",
    "digest_stream",
    "problem",
]
