"""The operator API (``/api/v1/operator/…``, JSON, operator tokens): what the console calls.

Every console action is one of these calls, so anything an operator can click a script can do.
Resend and cancel go through the store's operator methods, which write the audit record with
the operator's name in the same transaction. The OpenAPI document (:mod:`gateway.api.openapi`)
describes every route here; a test keeps the two in step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from gateway.api import officials_check, views
from gateway.api.guard import OPERATOR
from gateway.appkeys import ACTIVITY, ADAPTERS, DELIVERY, IDENTITY, METRICS, STORE
from gateway.errors import GatewayError
from gateway.store.api import Direction, MessageQuery, MessageRecord, State, Store

PREFIX = "/api/v1/operator"
MAX_LIMIT = 500


class QueryError(GatewayError):
    """A parameter of the request is not understood."""

    code = "api.bad_request"
    http_status = 400


class NotFound(GatewayError):
    """No such message."""

    code = "api.not_found"
    http_status = 404


class Conflict(GatewayError):
    """The message is not in a state that allows this action."""

    code = "api.conflict"
    http_status = 409


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{PREFIX}/overview", overview),
        web.get(f"{PREFIX}/messages", messages),
        web.get(f"{PREFIX}/messages/{{message_id}}", message),
        web.get(f"{PREFIX}/messages/{{message_id}}/envelope", envelope_download),
        web.get(f"{PREFIX}/messages/{{message_id}}/receipt", receipt_download),
        web.get(f"{PREFIX}/messages/{{message_id}}/signatures", signatures),
        web.post(f"{PREFIX}/messages/{{message_id}}/retry", retry),
        web.post(f"{PREFIX}/messages/{{message_id}}/cancel", cancel),
        web.get(f"{PREFIX}/partners", partners),
        web.get(f"{PREFIX}/adapters", adapters),
        web.get(f"{PREFIX}/whoami", whoami),
    ]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(request: web.Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
        except ValueError:
            raise QueryError(
                f"{name}: expected a date (2026-11-21) or a time, not {raw!r}"
            ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _query(request: web.Request) -> MessageQuery:
    q = request.query
    try:
        states = tuple(State(s) for raw in q.getall("state", []) for s in raw.split(",") if s)
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise QueryError(f"state: unknown value; known: {known}") from None
    direction = None
    if q.get("direction"):
        try:
            direction = Direction(q["direction"])
        except ValueError:
            raise QueryError("direction: expected out, in or local") from None
    if q.get("dead") in ("1", "true"):
        states = tuple(s for s in State if s.dead)
        direction = Direction.OUT
    try:
        limit = int(q.get("limit", "50"))
    except ValueError:
        raise QueryError("limit: expected a number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit: expected 1 to {MAX_LIMIT}")
    return MessageQuery(
        text=q.get("q") or None,
        peer=q.get("partner") or None,
        direction=direction,
        states=states,
        since=_time(request, "since"),
        until=_time(request, "until"),
        before=q.get("before") or None,
        limit=limit,
    )


async def messages(request: web.Request) -> web.Response:
    query = _query(request)
    found = await request.app[STORE].search(query)
    body: dict[str, Any] = {"messages": [views.summary(r) for r in found]}
    if len(found) == query.limit:
        body["next"] = found[-1].message_id  # pass as ?before= for the next page
    return web.json_response(body)


async def _record(request: web.Request) -> MessageRecord:
    message_id = request.match_info["message_id"]
    record = await request.app[STORE].get(message_id)
    if record is None:
        raise NotFound(f"no message {message_id!r}")
    return record


async def message(request: web.Request) -> web.Response:
    store: Store = request.app[STORE]
    record = await _record(request)
    related: list[MessageRecord] = []
    if record.document_uid:
        related = [
            r
            for r in await store.search(MessageQuery(text=record.document_uid, limit=100))
            if r.message_id != record.message_id and r.document_uid == record.document_uid
        ]
    body = views.detail(
        record, await store.history(record.message_id), await store.attempts(record.message_id),
        related,
    )  # fmt: skip
    return web.json_response(body)


async def envelope_download(request: web.Request) -> web.Response:
    record = await _record(request)
    return web.Response(
        body=record.envelope,
        content_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{record.message_id}.xml"'},
    )


async def receipt_download(request: web.Request) -> web.Response:
    record = await _record(request)
    if record.receipt is None:
        raise NotFound(f"message {record.message_id} has no receipt (yet)")
    return web.Response(
        body=record.receipt,
        content_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{record.message_id}.receipt.xml"'
        },
    )


async def signatures(request: web.Request) -> web.Response:
    """Check the officials' own signatures of the message's files, now (never re-signed)."""
    record = await _record(request)
    keys = request.app[IDENTITY].config.keys
    results = await officials_check.check(
        record, request.app[STORE].blobs, keys.official_anchors or keys.trust_anchors
    )
    return web.json_response({"signatures": results})


async def retry(request: web.Request) -> web.Response:
    return await _act(request, "retry")


async def cancel(request: web.Request) -> web.Response:
    return await _act(request, "cancel")


async def _act(request: web.Request, action: str) -> web.Response:
    store: Store = request.app[STORE]
    message_id = request.match_info["message_id"]
    actor = f"operator:{request[OPERATOR]}"
    try:
        if action == "retry":
            record = await store.retry(message_id, actor=actor, now=_now())
        else:
            record = await store.cancel(message_id, actor=actor)
    except KeyError:
        raise NotFound(f"no message {message_id!r}") from None
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    if action == "retry":
        request.app[DELIVERY].wake()
    return web.json_response(views.summary(record))


async def overview(request: web.Request) -> web.Response:
    app = request.app
    store: Store = app[STORE]
    counts = await store.count_by_state()
    partner_list = await _partners(request)
    dead = sum(n for (d, s), n in counts.items() if d is Direction.OUT and s.dead and
               s is not State.CANCELLED)  # fmt: skip
    now = _now()
    own = views.certificates((app[IDENTITY].config.keys.certificate,))[:1]
    activity = app.get(ACTIVITY)
    return web.json_response({
        "participant": app[IDENTITY].config.participant,
        "time": now.isoformat(),
        "counts": [
            {"direction": d.value, "state": s.value, "count": n}
            for (d, s), n in sorted(counts.items())
        ],
        "queue_depth": counts.get((Direction.OUT, State.QUEUED), 0),
        "waiting_handoff": counts.get((Direction.IN, State.ACCEPTED), 0),
        "dead_letters": dead,
        "partners": [{"id": p["id"], "name": p["name"], "recent_states": p["recent_states"],
                      "unreachable": p["unreachable"]} for p in partner_list],
        "alerts": views.alerts(own, partner_list, dead, now),
        "series": activity.series() if activity is not None else [],
    })  # fmt: skip


async def _partners(request: web.Request) -> list[dict[str, Any]]:
    app = request.app
    identity = app[IDENTITY]
    store: Store = app[STORE]
    health = app[METRICS].peers.peers
    now = _now()
    out = []
    for participant in identity.participants:
        if participant.id == identity.config.participant:
            continue
        counts = await store.recent_states(participant.id, limit=MAX_LIMIT)
        states = {f"{d.value}:{st.value}": n for (d, st), n in sorted(counts.items())}
        out.append(views.partner(
            participant, views.certificates(participant.certificates), states,
            health.get(participant.id), await _last_contact(store, participant.id), now,
        ))  # fmt: skip
    return out


async def _last_contact(store: Store, peer: str) -> dt.datetime | None:
    """The peer last answered us with a receipt, or last sent us a message."""
    times = []
    for query in (
        MessageQuery(peer=peer, direction=Direction.OUT, states=(State.DELIVERED,), limit=1),
        MessageQuery(peer=peer, direction=Direction.IN, limit=1),
    ):
        found = await store.search(query)
        if found:
            times.append(found[0].updated_at if query.direction is Direction.OUT
                         else found[0].created_at)  # fmt: skip
    return max(times, default=None)


async def partners(request: web.Request) -> web.Response:
    return web.json_response({"partners": await _partners(request)})


async def adapters(request: web.Request) -> web.Response:
    host = request.app.get(ADAPTERS)
    statuses = [s.as_json() for s in host.statuses()] if host is not None else []
    return web.json_response({"adapters": statuses})


async def whoami(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    return web.json_response({
        "operator": request[OPERATOR],
        "participant": identity.config.participant,
        "name": next((p.name for p in identity.participants
                      if p.id == identity.config.participant), identity.config.participant),
    })  # fmt: skip
