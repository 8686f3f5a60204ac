"""The gateway's one error hierarchy.

Every error carries a stable machine-readable ``code`` (it goes into signed error documents and
logs, so it never changes once published) and a message a person can act on. The class docstring
is the default message. The HTTP layer maps ``http_status`` in one place; domain code never
speaks HTTP. Add a subclass only when a caller branches on it; otherwise pass ``code=``.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """The gateway could not complete the operation."""

    code: ClassVar[str] = "gateway.error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "").strip()
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigError(GatewayError):
    """The configuration is invalid."""

    code = "config.invalid"

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class XmlSecurityError(GatewayError):
    """The XML document was refused before it could be read."""

    code = "xml.malformed"
    http_status = 400


class SchemaError(GatewayError):
    """The XML document does not follow its schema."""

    code = "xml.schema_invalid"
    http_status = 400


class EnvelopeError(GatewayError):
    """The message cannot be written as an envelope."""

    code = "envelope.invalid"
    http_status = 400


class SignatureError(GatewayError):
    """The signature is not valid."""

    code = "signature.invalid"
    http_status = 400


class TrustError(SignatureError):
    """The signer's certificate is not trusted."""

    code = "signature.untrusted"


class RoutingError(GatewayError):
    """No participant serves this recipient."""

    code = "routing.unknown_recipient"
    http_status = 422
