"""The vocabulary of МЭДО: namespaces, versions, fixed Russian values and their canonical twins.

Everything here is data or a small pure function, shared by the readers and writers of the
other modules. The fixed texts (link types, notification types, file groups) are the values of
the xdms schemas; they are compared exactly on reading, because МЭДО clients copy them from the
schema.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Final

from gateway.model import LinkKind, NotificationKind, Urgency

#: xdms 2.2 – 2.7 ("xdms" prefix by tradition); 2.7.1 moved to a URN with the same local names.
NS_IEDMS: Final = "http://www.infpres.com/IEDMS"
NS_MESSAGE: Final = "urn:IEDMS:MESSAGE"
#: The passport inside a 2.7 transport container, and its 2.7.1 namespace.
NS_CONTAINER_27: Final = "http://minsvyaz.ru/container"
NS_CONTAINER_271: Final = "urn:IEDMS:CONTAINER"

MESSAGE_NAMESPACES: Final = frozenset({NS_IEDMS, NS_MESSAGE})
PASSPORT_NAMESPACES: Final = frozenset({NS_CONTAINER_27, NS_CONTAINER_271})

#: Versions this adapter writes (it reads any 2.x).
VERSIONS: Final = ("2.2", "2.6", "2.7", "2.7.1")
CONTAINER_VERSIONS: Final = frozenset({"2.7", "2.7.1"})


def message_namespace(version: str) -> str:
    return NS_MESSAGE if version == "2.7.1" else NS_IEDMS


def passport_namespace(version: str) -> str:
    return NS_CONTAINER_271 if version == "2.7.1" else NS_CONTAINER_27


# Header types.
DOCUMENT: Final = "Документ"
NOTIFICATION: Final = "Уведомление"
ACKNOWLEDGMENT: Final = "Квитанция"
CONTAINER: Final = "Транспортный контейнер"

# File groups of a Документ.
GROUP_TEXT: Final = "Текст документа"
GROUP_ENCLOSURE: Final = "Текст приложения"
GROUP_DATA: Final = "Данные"

#: Files of a message folder (and of a container) that the adapter writes itself.
XML_NAME: Final = "document.xml"
ZIP_NAME: Final = "document.edc.zip"
PASSPORT_NAME: Final = "passport.xml"
CONTAINER_SIGNATURE: Final = "containerSign.p7s"
SIGNATURE_SUFFIXES: Final = (".p7s", ".sig", ".sgn")

#: The xdms ``file/@type`` values, by file extension (2.2 knows only pdf).
FILE_TYPES: Final = {".pdf": "pdf", ".tif": "tif", ".tiff": "tif", ".doc": "doc", ".txt": "txt",
                     ".xml": "xml"}  # fmt: skip

LINK_TYPES: Final = {
    LinkKind.IN_REPLY_TO: "В ответ на",
    LinkKind.IN_EXECUTION_OF: "Во исполнение",
    LinkKind.BASIS: "Документ-основание",
    LinkKind.ON_NUMBER: "На №",
    LinkKind.ANSWER: "Ответ",
    LinkKind.RELATED: "Связан с",
}
LINK_KINDS: Final = {text: kind for kind, text in LINK_TYPES.items()}

URGENCY_TEXT: Final = {Urgency.URGENT: "Срочно", Urgency.IMMEDIATE: "Весьма срочно"}
_IMMEDIATE = ("весьма срочно", "оперативно", "незамедлительно", "немедленно")


def urgency(text: str | None) -> Urgency:
    """The urgency an xdms ``urgency`` text means (anything else is normal)."""
    wanted = " ".join((text or "").split()).casefold()
    if any(word in wanted for word in _IMMEDIATE):
        return Urgency.IMMEDIATE
    if "срочн" in wanted:
        return Urgency.URGENT
    return Urgency.NORMAL


#: Notification elements and their ``@type`` texts, for the kinds the gateway carries.
NOTICE_ELEMENTS: Final = {
    NotificationKind.REGISTERED: ("documentAccepted", "Зарегистрирован"),
    NotificationKind.REFUSED: ("documentRefused", "Отказано в регистрации"),
    NotificationKind.EXECUTOR_ASSIGNED: ("executorAssigned", "Назначен исполнитель"),
    NotificationKind.ANSWERED: ("reportSent", "Доклад направлен"),
}
NOTICE_KINDS: Final = {element: kind for kind, (element, _) in NOTICE_ELEMENTS.items()}
#: Notifications МЭДО defines that have no canonical kind: refused with a clear message.
UNCARRIED_NOTICES: Final = {
    "reportPrepared": "Доклад подготовлен",
    "courseChanged": "Исполнение",
    "documentPublished": "Опубликование",
}
#: What the МЭДО process reports back for every document (xdms has no subscription element).
SUBSCRIPTIONS: Final = (
    NotificationKind.RECEIVED,
    NotificationKind.REGISTERED,
    NotificationKind.REFUSED,
)
#: Error code of a negative Квитанция that names none.
NOT_ACCEPTED: Final = "medo.not_accepted"
#: Written where xdms needs a number the canonical document lacks ("без номера").
NO_NUMBER: Final = "б/н"

# ---- identifiers -----------------------------------------------------------------------------

_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?"
)
#: Namespace of the GUIDs this adapter derives (for ids that are not GUIDs, and for
#: organisations without one); fixed forever, so the same input always gives the same GUID.
_DERIVED: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:interregional-gateway:adapters:medo")


def guid(text: str | None) -> str | None:
    """A GUID as written (case kept, Delphi-style braces dropped), or None if it is not one."""
    match = _GUID.fullmatch((text or "").strip())
    return match.group(1) if match else None


def message_guid(text: str | None) -> str | None:
    """A GUID that names a message: lower case, so that it equals the gateway's message id."""
    value = guid(text)
    return value.lower() if value else None


def as_guid(value: str) -> str:
    """``value`` if it is a GUID, else a GUID derived from it (xdms ids must be GUIDs)."""
    return guid(value) or str(uuid.uuid5(_DERIVED, f"id:{value}"))


def org_guid(name: str) -> str:
    """The GUID written for an organisation that has none (xdms requires ``source/@uid``)."""
    return str(uuid.uuid5(_DERIVED, f"org:{name}"))


def read_org_uid(uid: str | None, name: str) -> str | None:
    """An organisation's uid as read; a GUID this adapter derived from the name is no uid."""
    value = guid(uid)
    if value is None or value.lower() == org_guid(name):
        return None
    return value


# ---- times -----------------------------------------------------------------------------------

#: МЭДО writes local times without a zone; they are Moscow time.
MOSCOW: Final = dt.timezone(dt.timedelta(hours=3), "MSK")


def read_datetime(text: str) -> dt.datetime:
    """An xsd:dateTime; a time without a zone is taken as Moscow time. ValueError if invalid."""
    value = dt.datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=MOSCOW)


def write_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def read_date(text: str) -> dt.date:
    """An xsd:date (a zone suffix, which some writers add, is ignored). ValueError if invalid."""
    return dt.date.fromisoformat(text.strip()[:10])
