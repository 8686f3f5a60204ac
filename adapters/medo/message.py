"""One МЭДО message folder ↔ one Package: finding the parts, dispatching on the body.

A folder holds ``envelope.ini`` (optional when reading), the xdms XML (the envelope-listed
``.xml`` whose root is an xdms ``communication``; ``document.xml`` and ``communication.xml``
are tried first), and the files the XML names. The XML's body decides what it is: ``document``
(+ ``files``), ``container`` (+ ``document.edc.zip``), ``notification`` or ``acknowledgment``.
A lone ``.xml`` file is read too, for a notification or acknowledgment, which names no files.

Context written on reading (keys a reply or a faithful rewrite needs): ``medo.version``,
``medo.charset`` (of the XML), ``medo.source_uid``; for documents ``medo.header_uid`` (what
a Квитанция and an Уведомление about the document quote), ``medo.document_id`` (the sender's
local id, echoed in notifications), ``medo.number`` (a number without a date), and
``medo.container`` ("true") for a transport container.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import FormatError, Package
from adapters.folders import copy_file
from adapters.medo import container, document, envelope_ini, files, names, notices, passport, people
from adapters.medo.container import Limits
from adapters.medo.envelope_ini import Envelope
from adapters.medo.xdms import Builder, Node, charset_of, parse_file, serialize, validate
from gateway import xmlsafe
from gateway.errors import XmlSecurityError
from gateway.model import (
    Document,
    FileRef,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Person,
)

PREFERRED: Final = ("document.xml", "communication.xml")
RESERVED: Final = (*envelope_ini.NAMES, names.XML_NAME, names.ZIP_NAME, names.CONTAINER_SIGNATURE)


@dataclasses.dataclass(frozen=True)
class Options:
    """What the adapter's configuration decides about writing and reading."""

    version: str
    container: bool
    charset: str
    addressee: str
    organization: str
    limits: Limits


# ---- reading ---------------------------------------------------------------------------------


def decode(source: Path, options: Options) -> Package:
    if source.is_symlink():
        raise FormatError(f"{source.name} is a symbolic link, not a message", code="format.link")
    if source.is_dir():
        envelope_path = envelope_ini.find(source)
        envelope = envelope_ini.read(envelope_path) if envelope_path else None
        resolve = files.in_folder(source, envelope_path.name if envelope_path else source.name)
        listed = _listed(source, envelope)
        xml, root_element = _find_xml(source, listed, resolve)
    elif source.is_file() and source.suffix.lower() == ".xml":
        xml, root_element, listed = source, parse_file(source), []
        if not _is_message(root_element):
            raise _not_medo(source.name)
    else:
        raise _not_medo(source.name)
    root = Node(root_element, xml.name)
    header = root.required("header")
    context = {
        "medo.version": root.attr("version") or "",
        "medo.charset": charset_of(root_element),
        "medo.source_uid": names.guid(header.required("source").attr("uid")) or "",
    }
    notification = root.child("notification")
    if notification is not None:
        return Package(notices.read_notification(root), {}, context)
    if root.child("acknowledgment") is not None:
        return Package(notices.read_acknowledgment(root), {}, context)
    if root.child("document") is None and root.child("container") is None:
        raise FormatError(
            f"{xml.name} has none of <document>, <container>, <notification>, <acknowledgment>",
            code="format.not_medo",
        )
    if not source.is_dir():
        raise FormatError(
            f"{xml.name}: an МЭДО document travels as a folder (envelope, XML and its files); "
            "give the folder, not the XML alone",
            code="format.not_medo",
        )
    for name in listed:  # what the envelope promises must be there
        signature = name.lower().endswith(names.SIGNATURE_SUFFIXES)
        resolve(name, "format.missing_signature" if signature else "format.missing_file")
    own = names.guid(header.attr("uid"))
    if own:
        context["medo.header_uid"] = own
    if root.child("document") is not None:
        draft = document.read(root)
        entries = files.by_convention(draft.entries, listed)
        refs, paths = files.describe_all(entries, resolve)
    else:
        draft, refs, paths = _unpack(source, root, resolve, options.limits)
    context.update(draft.context)
    return Package(dataclasses.replace(draft.document, files=refs), paths, context)


def _listed(folder: Path, envelope: Envelope | None) -> list[str]:
    """The files of the message: the envelope's list, else the folder's."""
    if envelope is not None:
        return list(envelope.files)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _find_xml(
    folder: Path, listed: Sequence[str], resolve: files.Resolve
) -> tuple[Path, etree._Element]:
    xmls = [n for n in listed if n.lower().endswith(".xml")]
    for name in sorted(xmls, key=_rank):
        path = resolve(name, "format.missing_file")
        with path.open("rb") as fh:
            if b"communication" not in fh.read(4096):
                continue  # a data file of the message, not its xdms
        root = parse_file(path)
        if _is_message(root):
            return path, root
    raise _not_medo(folder.name)


def _rank(name: str) -> int:
    low = name.lower()
    return PREFERRED.index(low) if low in PREFERRED else len(PREFERRED)


def _is_message(root: etree._Element) -> bool:
    qname = etree.QName(root)
    return qname.localname == "communication" and qname.namespace in names.MESSAGE_NAMESPACES


def _not_medo(name: str) -> FormatError:
    return FormatError(
        f"{name}: no МЭДО xdms message found (an XML whose root is <communication> in "
        f"{names.NS_IEDMS} or {names.NS_MESSAGE}, listed in envelope.ini)",
        code="format.not_medo",
    )


def _unpack(
    source: Path, root: Node, resolve: files.Resolve, limits: Limits
) -> tuple[document.Draft, tuple[FileRef, ...], dict[str, Path]]:
    """A transport container: checked, its passport read, its files extracted to scratch."""
    element = root.required("container")
    body = element.text("body")
    if not body:
        raise FormatError(
            f"{root.where}: <container> names no <body> (the ZIP, e.g. {names.ZIP_NAME})",
            code="format.invalid",
        )
    zip_path = resolve(body, "format.missing_file")
    signature = element.text("signature")
    if signature:  # the container's own signature: checked here, not carried (see docs)
        files.check_signature(resolve(signature, "format.missing_signature"), signature)
    sender = people.source(root.required("header").required("source"))
    checked = container.open_checked(zip_path, limits)
    try:
        name = checked.find(names.PASSPORT_NAME)
        if name is None:
            raise FormatError(
                f"{body} has no {names.PASSPORT_NAME} at its root; a transport container "
                "describes its document there",
                code="format.missing_passport",
            )
        passport_root = _parse_passport(checked.read(name, xmlsafe.DEFAULT_MAX_BYTES))
        draft = passport.read(Node(passport_root, name), sender, people.destinations(root))
        wanted: dict[str, str] = {}
        for entry in draft.entries:
            for item, code in [(entry.name, "format.missing_file")] + [
                (s, "format.missing_signature") for s in entry.signatures
            ]:
                found = checked.find(item)
                if found is None:
                    what = "signature file" if code == "format.missing_signature" else "file"
                    raise FormatError(
                        f"passport.xml names the {what} {item!r}, which {body} does not hold; "
                        "add it to the container or correct the passport",
                        code=code,
                    )
                wanted[item] = found
        folder = container.scratch(source)
        try:
            unpacked = folder / container.UNPACKED
            extracted = container.extract(checked, dict.fromkeys(wanted.values()), unpacked)
            refs, paths = files.describe_all(
                draft.entries, lambda item, code: extracted[wanted[item]]
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    finally:
        checked.close()
    return draft, refs, paths


def _parse_passport(data: bytes) -> etree._Element:
    try:
        root = xmlsafe.parse(data)
    except XmlSecurityError as exc:
        raise FormatError(f"passport.xml: {exc.message}", code="format.xml") from None
    qname = etree.QName(root)
    if qname.localname != "container" or qname.namespace not in names.PASSPORT_NAMESPACES:
        raise FormatError(
            f"passport.xml is not a container passport (root <container> in "
            f"{names.NS_CONTAINER_27} or {names.NS_CONTAINER_271})",
            code="format.missing_passport",
        )
    return root


# ---- writing ---------------------------------------------------------------------------------


def encode(package: Package, target: Path, options: Options, now: dt.datetime) -> None:
    payload = package.payload
    now = now.replace(microsecond=0)
    header_uid = _header_uid(package.context, isinstance(payload, Document))
    if isinstance(payload, Notification):
        root = notices.write(
            payload,
            version=options.version,
            header_uid=header_uid,
            created=now,
            context=package.context,
            fallback=Organization(short_name=options.organization),
        )
        validate(root, "notification")
        _write(target / names.XML_NAME, serialize(root, options.charset))
        receipt = payload.kind in (NotificationKind.RECEIVED, NotificationKind.FAILED)
        label = "Квитанция о приеме" if receipt else names.NOTICE_ELEMENTS[payload.kind][1]
        subject = label if receipt else f"Уведомление: {label}"
        envelope = Envelope(subject, _to(options, ()), (names.XML_NAME,), signed=False)
    else:
        listed = _write_document(payload, package, target, options, header_uid, now)
        envelope = Envelope(
            _subject(payload),
            _to(options, payload.addressees),
            listed,
            signed=any(f.role is FileRole.SIGNATURE for f in payload.files),
        )
    _write(target / envelope_ini.NAMES[0], envelope_ini.render(envelope, now))


def _header_uid(context: Mapping[str, str], is_document: bool) -> str:
    """The gateway's message id when exporting; a document's own header uid when rewriting
    it; else a new GUID."""
    message_id = context.get("gateway.message_id")
    if message_id:
        return names.as_guid(message_id)
    own = names.guid(context.get("medo.header_uid")) if is_document else None
    return own or str(uuid.uuid4())


def _write_document(
    doc: Document,
    package: Package,
    target: Path,
    options: Options,
    header_uid: str,
    now: dt.datetime,
) -> tuple[str, ...]:
    """Write the XML and files of a document (plain or container); the names written."""
    as_container = (
        options.container
        and options.version in names.CONTAINER_VERSIONS
        and any(f.role is FileRole.MAIN for f in doc.files)
    )
    planned = files.plan(
        doc.files,
        reserved=(names.PASSPORT_NAME,) if as_container else RESERVED,
        convention=options.version == "2.2",
    )
    if not as_container:
        root = document.write(
            doc,
            planned,
            version=options.version,
            header_uid=header_uid,
            created=now,
            context=package.context,
        )
        validate(root, "document")
        written = []
        for item in planned:
            for ref, name in [(item.ref, item.name), *item.signatures]:
                copy_file(_source(package, ref), target / name)
                written.append(name)
        _write(target / names.XML_NAME, serialize(root, options.charset))
        return (*written, names.XML_NAME)
    main = next(p for p in planned if p.ref.role is FileRole.MAIN)
    others = [p for p in planned if p is not main]
    passport_root = passport.write(doc, main, others, version=options.version)
    validate(passport_root, "container passport")
    covering = _covering(doc, options.version, header_uid, now)
    validate(covering, "container message")
    members: list[tuple[str, Path | bytes]] = [
        (names.PASSPORT_NAME, serialize(passport_root, options.charset))
    ]
    for item in (main, *others):
        for ref, name in [(item.ref, item.name), *item.signatures]:
            members.append((name, _source(package, ref)))
    container.write(target / names.ZIP_NAME, members)
    _write(target / names.XML_NAME, serialize(covering, options.charset))
    return (names.ZIP_NAME, names.XML_NAME)


def _covering(doc: Document, version: str, header_uid: str, now: dt.datetime) -> etree._Element:
    """The xdms message of type «Транспортный контейнер» that travels with the ZIP."""
    b = Builder(names.message_namespace(version), "xdms")
    root = b.root("communication", version=version)
    header = b.add(
        root, "header", type=names.CONTAINER, uid=header_uid, created=names.write_datetime(now)
    )
    people.write_partner(b, header, "source", doc.sender)
    b.add(b.add(root, "container"), "body", names.ZIP_NAME)
    people.write_destinations(b, root, [p.organization for p in doc.addressees])
    return root


def _source(package: Package, ref: FileRef) -> Path:
    try:
        return package.files[ref.id]
    except KeyError:
        raise FormatError(
            f"the package has no local file for {ref.name!r} (file id {ref.id})",
            code="format.missing_file",
        ) from None


def _subject(doc: Document) -> str:
    reg = doc.registration
    number = f"{reg.number} от {reg.date:%d.%m.%Y}" if reg else names.NO_NUMBER
    return f"ЭСД МЭДО ({number} {{{names.as_guid(doc.uid)}}})"


def _to(options: Options, addressees: Sequence[Person]) -> tuple[str, ...]:
    """Our own МЭДО address (the message is delivered to the local client), else the
    addressees' addresses."""
    if options.addressee:
        return (options.addressee,)
    found = [a.organization.medo_address for a in addressees if a.organization.medo_address]
    return tuple(dict.fromkeys(found))


def _write(path: Path, data: bytes) -> None:
    with path.open("xb") as fh:
        fh.write(data)
