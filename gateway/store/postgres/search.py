"""The operator's message search as one PostgreSQL query (text built from constants only).

The registration number matches as a case-insensitive substring: ``strpos`` over ``lower()``
(Unicode-aware under the database's UTF-8 ctype), so ``%`` and ``_`` are plain characters.
Values are always parameters.
"""

from __future__ import annotations

from gateway.store.api import MessageQuery
from gateway.store.postgres import rows


def query(search: MessageQuery) -> tuple[str, list[object]]:
    where: list[str] = []
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if search.text:
        text = search.text.strip()
        exact = arg(text)
        folded = arg(text.casefold())
        where.append(
            f"(message_id = {exact} OR document_uid = {exact}"
            f" OR strpos(lower(registration_number), {folded}) > 0)"
        )
    if search.peer:
        where.append(f"peer = {arg(search.peer)}")
    if search.direction is not None:
        where.append(f"direction = {arg(search.direction.value)}")
    if search.states:
        states = [state.value for state in dict.fromkeys(search.states)]
        where.append(f"state = ANY({arg(states)}::text[])")
    if search.since is not None:
        where.append(f"created_at >= {arg(rows.aware(search.since))}")
    if search.until is not None:
        where.append(f"created_at < {arg(rows.aware(search.until))}")
    if search.before is not None:
        before = arg(search.before)
        where.append(f"id < coalesce((SELECT id FROM messages WHERE message_id = {before}), 0)")  # noqa: S608
    sql = rows.SELECT_MESSAGES
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {arg(max(search.limit, 0))}"
    return sql, args
