"""The OpenAPI 3.0 document of the operator API, served at ``/api/v1/operator/openapi.json``.

Written out by hand beside the handlers (:mod:`gateway.api.operator`); a test checks that it
validates, that it names exactly the routes the application serves, and a bounded schemathesis
run against a live gateway checks that the answers match it.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.api.operator import PREFIX
from gateway.store.api import State

JSON = dict[str, Any]

_STATES = [state.value for state in State]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **more: Any) -> JSON:
    return {"type": kind, "nullable": True, **more}


def _json(schema: JSON, description: str) -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS: JSON = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
_MESSAGE_ID: JSON = {
    "name": "message_id", "in": "path", "required": True,
    "schema": {"type": "string", "minLength": 1}, "description": "The envelope's message id",
}  # fmt: skip
_NOT_FOUND: JSON = {"404": _json(_ref("Error"), "No such message")}

_SUMMARY: JSON = {
    "type": "object",
    "required": ["message_id", "direction", "peer", "type", "state", "created_at"],
    "properties": {
        "message_id": {"type": "string"},
        "direction": {"type": "string", "enum": ["out", "in", "local"]},
        "peer": {"type": "string"},
        "type": {"type": "string"},
        "state": {"type": "string", "enum": _STATES},
        "dead": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "registration_number": _nullable("string"),
        "document_uid": _nullable("string"),
        "attempts": {"type": "integer"},
        "next_attempt_at": _nullable("string", format="date-time"),
        "expires_at": _nullable("string", format="date-time"),
        "error_code": _nullable("string"),
        "error_message": _nullable("string"),
        "has_receipt": {"type": "boolean"},
    },
}

_EVENT: JSON = {
    "type": "object",
    "required": ["at", "kind"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "kind": {"type": "string",
                 "enum": ["accepted", "state", "attempt", "receipt", "handoff", "related"]},
        "state": {"type": "string"},
        "detail": {"type": "string"},
        "outcome": {"type": "string"},
        "http_status": _nullable("integer"),
        "error": _nullable("string"),
        "message_id": {"type": "string"},
    },
}  # fmt: skip

_CERTIFICATE: JSON = {
    "type": "object",
    "required": ["subject", "not_before", "not_after", "days_left", "expiring", "expired"],
    "properties": {
        "subject": {"type": "string"},
        "serial": {"type": "string"},
        "not_before": {"type": "string", "format": "date-time"},
        "not_after": {"type": "string", "format": "date-time"},
        "days_left": {"type": "integer"},
        "expiring": {"type": "boolean"},
        "expired": {"type": "boolean"},
        "file": {"type": "string"},
    },
}

_PARTNER: JSON = {
    "type": "object",
    "required": ["id", "name", "endpoint", "certificates", "unreachable"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "endpoint": {"type": "string"},
        "profile": {"type": "string"},
        "serves": {"type": "object", "additionalProperties": {"type": "array",
                                                              "items": {"type": "string"}}},
        "certificates": {"type": "array", "items": _ref("Certificate")},
        "recent_states": {"type": "object", "additionalProperties": {"type": "integer"}},
        "last_contact": _nullable("string", format="date-time"),
        "last_failure": _nullable("string", format="date-time"),
        "last_error": _nullable("string"),
        "unreachable": {"type": "boolean"},
    },
}  # fmt: skip


def _action(summary: str, operation: str, done: str, conflict: str) -> JSON:
    """An operator action on one message (written to the audit log with the operator's name)."""
    return {"post": {
        "summary": f"{summary} (written to the audit log)",
        "operationId": operation,
        "parameters": [_MESSAGE_ID],
        "responses": {"200": _json(_ref("MessageSummary"), done),
                      "409": _json(_ref("Error"), conflict), **_NOT_FOUND, **_ERRORS},
    }}  # fmt: skip


def document() -> JSON:
    """The whole OpenAPI document."""
    p = PREFIX
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Interregional gateway — operator API",
            "version": __version__,
            "description": (
                "What the operator console calls. Every route needs an operator token "
                "(Authorization: Bearer …, from [api] operator_tokens_file). Errors are "
                "{code, message} with a stable code."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            f"{p}/whoami": {"get": {
                "summary": "The operator this token belongs to, and this gateway",
                "operationId": "whoami",
                "responses": {"200": _json({"type": "object", "required": ["operator"],
                                            "properties": {"operator": {"type": "string"},
                                                           "participant": {"type": "string"},
                                                           "name": {"type": "string"}}},
                                           "The caller"), **_ERRORS},
            }},
            f"{p}/overview": {"get": {
                "summary": "Dashboard: counts by state, queue depth, alerts, activity series",
                "operationId": "overview",
                "responses": {"200": _json(_ref("Overview"), "The dashboard"), **_ERRORS},
            }},
            f"{p}/messages": {"get": {
                "summary": "Search messages, newest first",
                "operationId": "searchMessages",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"},
                     "description": "Registration number (substring, any case), message id "
                                    "or document uid (exact)"},
                    {"name": "partner", "in": "query", "schema": {"type": "string"}},
                    {"name": "direction", "in": "query",
                     "schema": {"type": "string", "enum": ["out", "in", "local"]}},
                    {"name": "state", "in": "query", "style": "form", "explode": True,
                     "schema": {"type": "array", "items": {"type": "string", "enum": _STATES}}},
                    {"name": "dead", "in": "query", "description": "only outbound dead letters",
                     "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
                    {"name": "since", "in": "query", "description": "created at or after",
                     "schema": {"type": "string", "format": "date"}},
                    {"name": "until", "in": "query", "description": "created before",
                     "schema": {"type": "string", "format": "date"}},
                    {"name": "before", "in": "query", "schema": {"type": "string"},
                     "description": "a message id: the page after it (see next)"},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                ],
                "responses": {
                    "200": _json({"type": "object", "required": ["messages"], "properties": {
                        "messages": {"type": "array", "items": _ref("MessageSummary")},
                        "next": {"type": "string"}}}, "One page of messages"),
                    "400": _json(_ref("Error"), "A parameter is not understood"),
                    **_ERRORS,
                },
            }},
            f"{p}/messages/{{message_id}}": {"get": {
                "summary": "One message: content, files with digests, its whole timeline",
                "operationId": "getMessage",
                "parameters": [_MESSAGE_ID],
                "responses": {"200": _json(_ref("MessageDetail"), "The message"),
                              **_NOT_FOUND, **_ERRORS},
            }},
            f"{p}/messages/{{message_id}}/envelope": {"get": {
                "summary": "Download the exact envelope bytes",
                "operationId": "getEnvelope",
                "parameters": [_MESSAGE_ID],
                "responses": {"200": {"description": "The envelope", "content": {
                    "application/xml": {"schema": {"type": "string"}}}},
                    **_NOT_FOUND, **_ERRORS},
            }},
            f"{p}/messages/{{message_id}}/receipt": {"get": {
                "summary": "Download the signed receipt (the peer's, or the one we gave)",
                "operationId": "getReceipt",
                "parameters": [_MESSAGE_ID],
                "responses": {"200": {"description": "The receipt", "content": {
                    "application/xml": {"schema": {"type": "string"}}}},
                    "404": _json(_ref("Error"), "No such message, or no receipt yet"),
                    **_ERRORS},
            }},
            f"{p}/messages/{{message_id}}/signatures": {"get": {
                "summary": "Check the officials' own signatures of the files, now",
                "description": "Each signature file against the file it signs, chained to "
                               "keys.official_anchors (default: the trust anchors). The "
                               "gateway never re-signs them.",
                "operationId": "checkSignatures",
                "parameters": [_MESSAGE_ID],
                "responses": {"200": _json({"type": "object", "required": ["signatures"],
                                            "properties": {"signatures": {
                                                "type": "array",
                                                "items": _ref("OfficialSignature")}}},
                                           "One result per signature file"),
                              **_NOT_FOUND, **_ERRORS},
            }},
            f"{p}/messages/{{message_id}}/retry": _action(
                "Resend a dead letter now", "retryMessage", "Queued again",
                "Not an outbound dead letter"),
            f"{p}/messages/{{message_id}}/cancel": _action(
                "Cancel a queued letter", "cancelMessage", "Cancelled",
                "Not a queued outbound letter, or being delivered right now"),
            f"{p}/partners": {"get": {
                "summary": "Partners: endpoints, certificates with validity, last contact",
                "operationId": "partners",
                "responses": {"200": _json({"type": "object", "required": ["partners"],
                                            "properties": {"partners": {
                                                "type": "array", "items": _ref("Partner")}}},
                                           "Every other participant"), **_ERRORS},
            }},
            f"{p}/adapters": {"get": {
                "summary": "Adapters: status, counts and last error",
                "operationId": "adapters",
                "responses": {"200": _json({"type": "object", "required": ["adapters"],
                                            "properties": {"adapters": {
                                                "type": "array", "items": _ref("Adapter")}}},
                                           "Every configured adapter"), **_ERRORS},
            }},
            f"{p}/openapi.json": {"get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0"), **_ERRORS},
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (text exposition format)",
                "operationId": "metrics",
                "responses": {"200": {"description": "Metrics", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}, **_ERRORS},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Unauthorized": _json(_ref("Error"), "No valid operator token")},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}},
                "MessageSummary": _SUMMARY,
                "MessageDetail": {"allOf": [_SUMMARY, {"type": "object", "required": [
                    "files", "timeline"], "properties": {
                    "envelope_sha256": {"type": "string"},
                    "envelope_size": {"type": "integer"},
                    "correlation_id": _nullable("string"),
                    "payload": _nullable("object"),
                    "files": {"type": "array", "items": {"type": "object", "required": [
                        "id", "name", "size", "sha256"], "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"},
                        "size": {"type": "integer"}, "sha256": {"type": "string"},
                        "media_type": _nullable("string"), "role": _nullable("string"),
                        "signature_of": _nullable("string")}}},
                    "timeline": {"type": "array", "items": _ref("Event")}}}]},
                "Event": _EVENT,
                "OfficialSignature": {"type": "object", "required": ["file_id", "valid"],
                                      "properties": {
                    "file_id": {"type": "string"}, "name": {"type": "string"},
                    "signs": _nullable("string"), "signs_name": {"type": "string"},
                    "valid": {"type": "boolean"}, "signer": _nullable("string"),
                    "signing_time": _nullable("string", format="date-time"),
                    "algorithm": _nullable("string"), "reason": _nullable("string"),
                    "code": _nullable("string")}},
                "Certificate": _CERTIFICATE,
                "Partner": _PARTNER,
                "Adapter": {"type": "object", "required": ["id", "adapter"], "properties": {
                    "id": {"type": "string"}, "adapter": {"type": "string"},
                    "taken": {"type": "integer"}, "refused": {"type": "integer"},
                    "exported": {"type": "integer"}, "failures": {"type": "integer"},
                    "last_ok": _nullable("string", format="date-time"),
                    "last_error": _nullable("string"),
                    "last_error_at": _nullable("string", format="date-time")}},
                "Overview": {"type": "object", "required": [
                    "participant", "counts", "queue_depth", "dead_letters", "alerts", "series"],
                    "properties": {
                    "participant": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                    "counts": {"type": "array", "items": {"type": "object", "properties": {
                        "direction": {"type": "string"}, "state": {"type": "string"},
                        "count": {"type": "integer"}}}},
                    "queue_depth": {"type": "integer"},
                    "waiting_handoff": {"type": "integer"},
                    "dead_letters": {"type": "integer"},
                    "partners": {"type": "array", "items": {"type": "object"}},
                    "alerts": {"type": "array", "items": {"type": "object", "required": [
                        "kind", "severity", "subject", "text"], "properties": {
                        "kind": {"type": "string",
                                 "enum": ["certificate", "unreachable", "dead_letters"]},
                        "severity": {"type": "string", "enum": ["warning", "critical"]},
                        "subject": {"type": "string"}, "text": {"type": "string"}}}},
                    "series": {"type": "array", "items": {"type": "object", "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "queued": {"type": "integer"},
                        "waiting_handoff": {"type": "integer"},
                        "dead": {"type": "integer"},
                        "delivered_per_minute": {"type": "number"},
                        "received_per_minute": {"type": "number"}}}}}},
            },
        },
    }  # fmt: skip
