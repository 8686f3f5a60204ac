"""The operator's message search as one SQLite query (text built from constants only).

Each filter is an indexed column where one exists (message id, document uid, peer, state);
the registration number is matched as a case-insensitive substring (Unicode case folding, a
function the connections register), which scans, bounded by ``LIMIT`` and by the other
filters. Values are always parameters.
"""

from __future__ import annotations

from gateway.store.api import MessageQuery
from gateway.store.sqlite import rows


def query(search: MessageQuery) -> tuple[str, tuple[object, ...]]:
    where: list[str] = []
    params: list[object] = []
    if search.text:
        text = search.text.strip()
        where.append(
            "(message_id = ? OR document_uid = ? OR instr(gw_fold(registration_number), ?) > 0)"
        )
        params += [text, text, text.casefold()]
    if search.peer:
        where.append("peer = ?")
        params.append(search.peer)
    if search.direction is not None:
        where.append("direction = ?")
        params.append(search.direction.value)
    if search.states:
        states = tuple(dict.fromkeys(search.states))
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params += [state.value for state in states]
    if search.since is not None:
        where.append("created_at >= ?")
        params.append(rows.to_us(search.since))
    if search.until is not None:
        where.append("created_at < ?")
        params.append(rows.to_us(search.until))
    if search.before is not None:
        where.append("id < coalesce((SELECT id FROM messages WHERE message_id = ?), 0)")
        params.append(search.before)
    sql = "SELECT id, " + rows.MESSAGE_COLUMNS + " FROM messages"  # noqa: S608 - constants
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(max(search.limit, 0))
    return sql, tuple(params)
