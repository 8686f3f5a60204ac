"""The closed list of reasons for refusing registration (МЭДО ``reasonForRejection``).

A refusal (:attr:`gateway.model.NotificationKind.REFUSED`) carries one of these texts in
``Notification.reason``. Formats with free-text refusals (a СЭВ ``Failure``) map theirs with
:func:`closest`, keeping the original text as the notification's comment.
"""

from __future__ import annotations

REASONS: tuple[str, ...] = (
    "Не подлежит регистрации",
    "Ошибка адресации",
    "Не указан корреспондент",
    "Нет искового заявления",
    "Отсутствует текст",
    "Нет подписи",
    "Приложение отсутствует",
    "Листаж приложения указан ошибочно",
    "Несовпадение реквизитов приложения с приложенными документами",
    "Нет № и даты",
    "Не полная комплектация",
    "Дата документа неразборчива",
    "Исходящий номер документа неразборчив",
    "Отсутствует (не видна) подпись",
    "Перевернуты страницы",
    "Продублированы страницы",
    "В приложении проект нормативного акта",
    "Документ ДСП",
    "Документ и/или приложение отсканированы с оборотом",
    "Документ неверно адресован",
    "Документ получен ранее на бумажном носителе",
    "Документ зарегистрирован ранее, текст взамен разосланного загружен",
    "Количество страниц в тексте документа не соответствует заявленному",
    "Несоответствие переданных реквизитов тексту документа",
    "Отсутствует приложение, указанное в документе",
    "Текст неразборчив",
    "Текст отсутствует",
    "Текст не соответствует регламенту",
)

DEFAULT = REASONS[0]  # "Не подлежит регистрации": the general refusal


def is_reason(text: str) -> bool:
    return text in REASONS


def closest(text: str | None) -> str:
    """The listed reason a free text means: exact (ignoring case and spaces), else the listed
    reason contained in the text, else the general refusal."""
    if not text:
        return DEFAULT
    wanted = " ".join(text.split()).casefold()
    for reason in REASONS:
        if reason.casefold() == wanted:
            return reason
    for reason in sorted(REASONS, key=len, reverse=True):
        if reason.casefold() in wanted:
            return reason
    return DEFAULT
