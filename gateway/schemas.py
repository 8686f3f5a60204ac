"""The gateway's own wire schemas (``xsd/``): where they live and how documents are checked.

Hot-path validation uses lxml's XMLSchema (libxml2, ~85× faster than xmlschema); the slower
``xmlschema`` package is used only by :func:`explain`, for tooling that wants a precise path and
reason. Schemas are our own files, but they are still loaded with network access off.
"""

from __future__ import annotations

import enum
import threading
from functools import cache
from pathlib import Path
from typing import Any, Final, cast

from lxml import etree

from gateway.errors import SchemaError

#: The namespace of wire format version 1 (the major version is in the namespace).
NS: Final = "urn:interregional-gateway:1"
#: The version this gateway writes; it reads any 1.x (see docs/protocol.md).
VERSION: Final = "1.0"


class Kind(enum.StrEnum):
    """The three root documents of the wire format, by their schema file."""

    ENVELOPE = "envelope"
    RECEIPT = "receipt"
    ERROR = "error"

    @property
    def root_tag(self) -> str:
        return f"{{{NS}}}{self.value.capitalize()}"


_local = threading.local()


@cache
def schema_dir() -> Path:
    """The folder holding the schemas: packaged in a wheel, or ``xsd/`` of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_xsd", here.parent / "xsd"):
        if (candidate / "envelope-1.xsd").is_file():
            return candidate
    raise FileNotFoundError(f"the XML schemas are missing (looked in {here}/_xsd and xsd/)")


def schema_path(kind: Kind) -> Path:
    return schema_dir() / f"{kind.value}-1.xsd"


def _schema(kind: Kind) -> etree.XMLSchema:
    # XMLSchema objects are not shared across threads, like parsers.
    cached: dict[Kind, etree.XMLSchema] = _local.__dict__.setdefault("schemas", {})
    schema = cached.get(kind)
    if schema is None:
        loader = etree.XMLParser(no_network=True, resolve_entities=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path(kind)), loader))
        cached[kind] = schema
    return schema


def kind_of(root: etree._Element) -> Kind:
    """Which wire document this is, from its root element; SchemaError for anything else."""
    for kind in Kind:
        if root.tag == kind.root_tag:
            return kind
    qname = etree.QName(root)
    if qname.namespace and qname.namespace.startswith("urn:interregional-gateway:"):
        raise SchemaError(
            f"unsupported wire format version: namespace {qname.namespace} "
            f"(this gateway reads {NS})",
            code="envelope.unsupported_version",
        )
    raise SchemaError(
        f"not a gateway document: root element {root.tag!r}; expected Envelope, Receipt or "
        f"Error in namespace {NS}",
        code="xml.unknown_document",
    )


def validate(root: etree._Element, kind: Kind) -> None:
    """Raise SchemaError (code ``xml.schema_invalid``) naming the first problem and its line."""
    schema = _schema(kind)
    if not schema.validate(root):
        error = schema.error_log.last_error if schema.error_log else None
        if error is None:
            detail = "invalid"
        else:  # a tree built in memory (encoding) has no line numbers
            detail = f"line {error.line}: {error.message}" if error.line else error.message
        raise SchemaError(f"the {kind.value} does not follow its schema: {detail}")


def explain(data: bytes, kind: Kind) -> list[str]:
    """Every schema violation with its path, for people (slow; never on the hot path)."""
    import xmlschema  # deferred: only tooling needs it

    from gateway import xmlsafe

    schema = xmlschema.XMLSchema(str(schema_path(kind)))
    root = xmlsafe.parse(data)
    # xmlschema reads lxml trees at run time; its stubs only know ElementTree.
    errors = schema.iter_errors(cast(Any, root))
    return [f"{err.path}: {err.reason}" for err in errors]
