"""The system libcrypto and its GOST engine, bound with ctypes, loaded once, on first use.

Nothing is loaded at import: a gateway without the engine imports and runs everything but the
GOST profile, and :func:`lib` raises :class:`GostUnavailableError` (code ``gost.unavailable``)
naming the Debian package to install. The engine is found the way ``openssl -engine gost`` finds
it (``OPENSSL_ENGINES``, then libcrypto's own ENGINESDIR), and failing that in the usual
``engines-3`` folders through OpenSSL's ``dynamic`` engine.

ctypes releases the GIL around every foreign call, so hashing a large file does not stop other
threads. Every prototype is declared: an undeclared ``size_t`` or pointer is silently truncated
to a C ``int``. OpenSSL's error queue is per thread and is emptied after every failure, so that
an old error never explains a new one. Nothing here ever reads key bytes into an error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError

PACKAGE = "libengine-gost-openssl"
ENGINE_ID = b"gost"
# OpenSSL_version(OPENSSL_ENGINES_DIR) answers 'ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3"'.
_OPENSSL_ENGINES_DIR = 5
_ENGINE_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu/engines-3",
    "/usr/lib/aarch64-linux-gnu/engines-3",
    "/usr/lib64/engines-3",
    "/usr/lib/engines-3",
    "/usr/local/lib/engines-3",
    "/usr/local/lib64/engines-3",
)
# engine.h: what the engine becomes the default for. Only GOST algorithms are offered by it, so
# RSA, EC and the SHA-2 digests that hashlib takes from the same libcrypto are not affected.
_ENGINE_METHOD_DIGESTS = 0x0080
_ENGINE_METHOD_PKEY_METHS = 0x0200
_ENGINE_METHOD_PKEY_ASN1_METHS = 0x0400

_P = ctypes.c_void_p
_INT = ctypes.c_int
_SIZE = ctypes.c_size_t
_BUF = ctypes.c_char_p  # bytes are passed without a copy
# name -> (restype, argtypes)
_PROTOTYPES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "OpenSSL_version": (ctypes.c_char_p, (_INT,)),
    "ERR_get_error": (ctypes.c_ulong, ()),
    "ERR_error_string_n": (None, (ctypes.c_ulong, _BUF, _SIZE)),
    "ERR_clear_error": (None, ()),
    "OBJ_txt2nid": (_INT, (_BUF,)),
    "CRYPTO_free": (None, (_P, _BUF, _INT)),
    "ENGINE_by_id": (_P, (_BUF,)),
    "ENGINE_ctrl_cmd_string": (_INT, (_P, _BUF, _BUF, _INT)),
    "ENGINE_init": (_INT, (_P,)),
    "ENGINE_free": (_INT, (_P,)),
    "ENGINE_set_default": (_INT, (_P, ctypes.c_uint)),
    "ENGINE_get_digest": (_P, (_P, _INT)),
    "EVP_MD_CTX_new": (_P, ()),
    "EVP_MD_CTX_free": (None, (_P,)),
    "EVP_MD_CTX_copy_ex": (_INT, (_P, _P)),
    "EVP_DigestInit_ex": (_INT, (_P, _P, _P)),
    "EVP_DigestUpdate": (_INT, (_P, _P, _SIZE)),
    "EVP_DigestFinal_ex": (_INT, (_P, _BUF, _P)),
    "EVP_Digest": (_INT, (_BUF, _SIZE, _BUF, _P, _P, _P)),
    "EVP_PKEY_CTX_new_id": (_P, (_INT, _P)),
    "EVP_PKEY_CTX_new": (_P, (_P, _P)),
    "EVP_PKEY_CTX_free": (None, (_P,)),
    "EVP_PKEY_CTX_ctrl_str": (_INT, (_P, _BUF, _BUF)),
    "EVP_PKEY_keygen_init": (_INT, (_P,)),
    "EVP_PKEY_keygen": (_INT, (_P, ctypes.POINTER(_P))),
    "EVP_PKEY_sign_init": (_INT, (_P,)),
    "EVP_PKEY_sign": (_INT, (_P, _BUF, ctypes.POINTER(_SIZE), _BUF, _SIZE)),
    "EVP_PKEY_verify_init": (_INT, (_P,)),
    "EVP_PKEY_verify": (_INT, (_P, _BUF, _SIZE, _BUF, _SIZE)),
    "EVP_PKEY_get_id": (_INT, (_P,)),
    "EVP_PKEY_get_bits": (_INT, (_P,)),
    "EVP_PKEY_free": (None, (_P,)),
    "d2i_PUBKEY": (_P, (_P, ctypes.POINTER(_P), ctypes.c_long)),
    "i2d_PUBKEY": (_INT, (_P, ctypes.POINTER(_P))),
    "EVP_PKEY2PKCS8": (_P, (_P,)),
    "EVP_PKCS82PKEY": (_P, (_P,)),
    "d2i_PKCS8_PRIV_KEY_INFO": (_P, (_P, ctypes.POINTER(_P), ctypes.c_long)),
    "i2d_PKCS8_PRIV_KEY_INFO": (_INT, (_P, ctypes.POINTER(_P))),
    "PKCS8_PRIV_KEY_INFO_free": (None, (_P,)),
}


class GostUnavailableError(GatewayError):
    """The GOST profile needs the OpenSSL GOST engine, which is not installed."""

    code = "gost.unavailable"
    http_status = 500


class GostError(GatewayError):
    """The GOST engine refused an operation."""

    code = "gost.failed"


class Lib:
    """libcrypto's functions (as attributes) and the initialised engine."""

    def __init__(self, crypto: ctypes.CDLL, engine: int, engine_path: str) -> None:
        self.crypto = crypto
        self.engine = engine
        self.engine_path = engine_path
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(crypto, name)
            function.restype = restype
            function.argtypes = argtypes
            setattr(self, name, function)

    def __getattr__(self, name: str) -> Callable[..., Any]:  # for the type checker only
        raise AttributeError(name)

    def nid(self, oid: str) -> int:
        nid: int = self.OBJ_txt2nid(oid.encode("ascii"))
        if nid == 0:
            self.ERR_clear_error()
            raise GostUnavailableError(
                f"libcrypto does not know the GOST object {oid}; is the {PACKAGE} engine loaded?"
            )
        return nid

    def errors(self) -> str:
        """OpenSSL's queued errors as text, and the queue emptied."""
        texts = []
        buffer = ctypes.create_string_buffer(256)
        while code := self.ERR_get_error():
            self.ERR_error_string_n(code, buffer, len(buffer))
            texts.append(buffer.value.decode("ascii", "replace"))
        return "; ".join(texts[:4]) or "no reason given"

    def fail(self, what: str, *, code: str = "gost.failed") -> GostError:
        return GostError(f"{what}: {self.errors()}", code=code)


_lock = threading.Lock()
_loaded: Lib | None = None
_problem: GostUnavailableError | None = None


def lib() -> Lib:
    """The bound library; ``GostUnavailableError`` if libcrypto or the engine is missing."""
    global _loaded, _problem
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None and _problem is None:
            try:
                _loaded = _load()
            except GostUnavailableError as exc:
                _problem = exc  # remembered: looking again costs a dlopen per call
        if _loaded is None:
            assert _problem is not None
            raise GostUnavailableError(_problem.message)
        return _loaded


def problem() -> str | None:
    """Why the GOST profile cannot be used here, or None when it can."""
    try:
        lib()
    except GostUnavailableError as exc:
        return exc.message
    return None


def _load() -> Lib:
    name = "libcrypto.so.3"
    try:
        crypto = ctypes.CDLL(name)
    except OSError:
        name = ctypes.util.find_library("crypto") or name  # runs ldconfig: only when needed
        try:
            crypto = ctypes.CDLL(name)
        except OSError:
            raise GostUnavailableError(
                f"the system OpenSSL library (libcrypto 3) cannot be loaded; install libssl3 "
                f"and {PACKAGE}"
            ) from None
    if not hasattr(crypto, "EVP_PKEY_get_id"):
        raise GostUnavailableError(
            f"{name} is not OpenSSL 3; the GOST profile needs OpenSSL 3 and {PACKAGE}"
        )
    partial = Lib(crypto, 0, "")
    engine, path = _engine(partial)
    if not partial.ENGINE_init(engine):
        partial.ENGINE_free(engine)
        raise GostUnavailableError(
            f"the GOST engine {path} does not start ({partial.errors()}); reinstall {PACKAGE}"
        )
    # The structural reference from ENGINE_by_id is released; ENGINE_init's functional one
    # keeps the engine for the life of the process.
    partial.ENGINE_free(engine)
    # Default for its digests and key methods: key files and certificates are then read with
    # the GOST algorithms, as `openssl -engine gost` reads them.
    methods = _ENGINE_METHOD_DIGESTS | _ENGINE_METHOD_PKEY_METHS | _ENGINE_METHOD_PKEY_ASN1_METHS
    if not partial.ENGINE_set_default(engine, methods):
        raise GostUnavailableError(f"the GOST engine cannot be registered: {partial.errors()}")
    return Lib(crypto, engine, path)


def _engine(partial: Lib) -> tuple[int, str]:
    """The engine from OpenSSL's own search, else from the usual folders via `dynamic`."""
    engine = partial.ENGINE_by_id(ENGINE_ID)
    if engine:
        return engine, _describe_default(partial)
    partial.ERR_clear_error()
    broken: list[str] = []
    for path in _candidates(partial):
        if not path.is_file():
            continue
        dynamic = partial.ENGINE_by_id(b"dynamic")
        if not dynamic:
            break
        encoded = os.fsencode(path)
        if (
            partial.ENGINE_ctrl_cmd_string(dynamic, b"SO_PATH", encoded, 0)
            and partial.ENGINE_ctrl_cmd_string(dynamic, b"ID", ENGINE_ID, 0)
            and partial.ENGINE_ctrl_cmd_string(dynamic, b"LOAD", None, 0)
        ):
            return dynamic, str(path)
        broken.append(f"{path} ({partial.errors()})")
        partial.ENGINE_free(dynamic)
    if broken:
        raise GostUnavailableError(
            f"the OpenSSL GOST engine cannot be loaded from {'; '.join(broken)[:400]}; "
            f"reinstall the Debian package {PACKAGE} for this OpenSSL"
        )
    searched = ", ".join(str(p.parent) for p in _candidates(partial))
    raise GostUnavailableError(
        f"the OpenSSL GOST engine is not installed (no gost.so in {searched}); install the "
        f"Debian package {PACKAGE} (apt-get install {PACKAGE}), or set OPENSSL_ENGINES to the "
        "folder that holds gost.so"
    )


def _candidates(partial: Lib) -> list[Path]:
    folders = []
    if os.environ.get("OPENSSL_ENGINES"):
        folders.append(os.environ["OPENSSL_ENGINES"])
    default = _default_folder(partial)
    if default:
        folders.append(default)
    folders += _ENGINE_FOLDERS
    unique = dict.fromkeys(Path(folder) / "gost.so" for folder in folders)
    return list(unique)


def _default_folder(partial: Lib) -> str | None:
    text = partial.OpenSSL_version(_OPENSSL_ENGINES_DIR) or b""
    value = text.decode("utf-8", "replace").partition(":")[2].strip().strip('"')
    return value or None


def _describe_default(partial: Lib) -> str:
    folder = os.environ.get("OPENSSL_ENGINES") or _default_folder(partial) or "?"
    return str(Path(folder) / "gost.so")
