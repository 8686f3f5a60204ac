"""The files of a СЭВ document: ``File`` elements with their ``EDS`` signatures ↔ FileRefs.

Reading: each ``File`` names a resource (``@ResourceID`` → ``Header/ResourceList``) and is a
FileRef with id ``File/@UID`` and the name ДЕЛО shows (``Description`` + ``.Extension``);
the first is the MAIN text, the others ATTACHMENTs. Each ``EDS`` under a File names the
resource holding an official's detached signature of it: a SIGNATURE FileRef whose id and
name are that file's name. Digests and sizes are measured from the bytes
(:func:`adapters.filerefs.describe`), never taken from ``@Size``.

Writing: main texts first, then attachments, each followed by its signatures, numbered from
1 (0 is the message file); every file gets a safe, unique name on disk, and a signature's
ends in ``.sig``, as ДЕЛО expects of detached signatures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from adapters.api import AdapterError, FormatError
from adapters.filerefs import describe
from adapters.sev.folder import Message, Names, resource_number, resource_path, safe_suffix
from adapters.sev.xmlio import INT_MAX, attr, find_all, sub, text
from gateway.model import FileRef, FileRole

# ---- reading ------------------------------------------------------------------------------


def read_files(
    document: etree._Element, where: str, listed: dict[str, str], message: Message
) -> tuple[list[FileRef], dict[str, Path]]:
    """The FileRefs of ``document`` and the path of each; every listed resource checked."""
    refs: list[FileRef] = []
    paths: dict[str, Path] = {}
    used: set[str] = set()

    def take(number_attr: str | None, at: str, code: str, what: str) -> tuple[str, Path]:
        number = resource_number(number_attr, f"{at}/@ResourceID")
        if number not in listed:
            raise FormatError(
                f"{at}/@ResourceID {number} names no Header/ResourceList/Resource; "
                f"the {what} is not in the package",
                code=code,
            )
        if number in used:
            raise FormatError(f"{at}: resource {number} is already the file of another element")
        used.add(number)
        return listed[number], resource_path(message, listed[number], code=code, what=what)

    for n, element in enumerate(find_all(document, "File"), start=1):
        at = f"{where}/File[{n}]"
        file_id = attr(element, "UID")
        if file_id is None:
            raise FormatError(f"{at} has no UID; every file needs one")
        disk, path = take(attr(element, "ResourceID"), at, "format.missing_file", "file")
        role = FileRole.ATTACHMENT if refs else FileRole.MAIN
        name = _shown_name(text(element, "Description"), text(element, "Extension"), disk)
        file_id = _safe_id(file_id, f"file-{n}")
        refs.append(describe(path, id=file_id, role=role, name=name))
        paths[file_id] = path
        for k, eds in enumerate(find_all(element, "EDS"), start=1):
            disk, path = take(
                attr(eds, "ResourceID"), f"{at}/EDS[{k}]", "format.missing_signature", "signature"
            )
            sig_id = _safe_id(disk, f"{file_id}-sig{k}")
            refs.append(
                describe(path, id=sig_id, role=FileRole.SIGNATURE, name=disk, signature_of=file_id)
            )
            paths[sig_id] = path
    if len(paths) != len(refs):
        raise FormatError(
            f"{where}: two files have the same id (File/@UID, or a File/@UID "
            "equal to a signature's file name); give each File its own UID"
        )
    for number, name in listed.items():  # every listed resource must be there, used or not
        if number not in used:
            resource_path(message, name, code="format.missing_file", what=f"resource {number}")
    return refs, paths


def _shown_name(description: str | None, extension: str | None, disk: str) -> str:
    """The name ДЕЛО shows: ``Description`` plus ``.Extension`` unless it already ends so."""
    if not description:
        return disk
    suffix = (extension or "").strip().lstrip(".")
    if suffix and not description.casefold().endswith("." + suffix.casefold()):
        return f"{description}.{suffix}"
    return description


# ---- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """A file of the package being written: its resource number and its name on disk."""

    ref: FileRef
    number: int
    disk: str


Plan = list[tuple[Placed, list[Placed]]]  # each file with its signatures


def place(files: Sequence[FileRef], names: Names, first: int) -> Plan:
    """Resource numbers from ``first`` and names on disk for ``files``."""
    number = first - 1
    plan: Plan = []
    for n, (ref, signatures) in enumerate(_ordered(files), start=1):
        number += 1
        file = Placed(ref, number, names.claim(ref.name, f"file-{n}{safe_suffix(ref.name)}"))
        signed = []
        for signature in signatures:
            number += 1
            wanted = signature.name
            if not wanted.casefold().endswith(".sig"):
                wanted += ".sig"
            signed.append(Placed(signature, number, names.claim(wanted, f"signature-{number}.sig")))
        plan.append((file, signed))
    return plan


def _ordered(files: Sequence[FileRef]) -> list[tuple[FileRef, list[FileRef]]]:
    """Main texts first, then attachments, each with the signatures of it, in given order."""
    plain = [ref for ref in files if ref.role is not FileRole.SIGNATURE]
    ids = {ref.id for ref in plain}
    signatures: dict[str, list[FileRef]] = {}
    for ref in files:
        if ref.role is FileRole.SIGNATURE:
            if ref.signature_of is None or ref.signature_of not in ids:
                raise AdapterError(
                    f"signature {ref.name!r} signs {ref.signature_of!r}, which is not a file of "
                    "the document; СЭВ carries a signature only under the file it signs",
                    code="sev.cannot_encode",
                )
            signatures.setdefault(ref.signature_of, []).append(ref)
    plain.sort(key=lambda ref: ref.role is not FileRole.MAIN)
    return [(ref, signatures.get(ref.id, [])) for ref in plain]


def write_files(document: etree._Element, plan: Plan) -> None:
    """One ``File`` per planned file, its signatures as ``EDS``."""
    for file, signatures in plan:
        description, extension = _split_name(file.ref.name)
        # Size is an xs:int in the published schema; a larger file (2 GiB scans exist) gets
        # the largest value, as every reader measures the file anyway.
        size = str(min(file.ref.size, INT_MAX))
        written = sub(document, "File", UID=file.ref.id, ResourceID=str(file.number), Size=size)
        sub(written, "Description", description)
        sub(written, "Extension", extension)
        for signature in signatures:
            sub(written, "EDS", ResourceID=str(signature.number))


def _split_name(name: str) -> tuple[str, str]:
    """(Description, Extension) of a file name, read back by :func:`_shown_name`."""
    stem, _, suffix = name.rpartition(".")
    if not stem or not re.fullmatch(r"[^\s./\\]{1,16}", suffix):
        return name, ""
    if stem.casefold().endswith("." + suffix.casefold()):
        return name, suffix  # "a.pdf.pdf": the whole name, or it would come back as "a.pdf"
    return stem, suffix


# The envelope's file ids are ASCII tokens (xsd/common-1.xsd, type Id); ДЕЛО's UIDs are GUIDs,
# but a signature is known only by its file name, often Cyrillic ("Письмо.pdf.sig").
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:{}\-]{0,127}")


def _safe_id(candidate: str, fallback: str) -> str:
    return candidate if _ID.fullmatch(candidate) else fallback
