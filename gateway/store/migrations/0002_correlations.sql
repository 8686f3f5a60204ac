-- Schema 2: what adapters keep between messages, and finding a document's inbound message.
--
-- `correlations` holds small values by (scope, key): the adapter that took a document in
-- (scope 'origin'), the format values a reply needs (scope 'context:<adapter>', e.g. a ДЕЛО
-- ReturnID), keyed by document uid. A reply about a document finds its way back through it.

CREATE TABLE correlations (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- A notification from our local system names the document; this finds the message it came in.
CREATE INDEX messages_document ON messages (document_uid, id) WHERE document_uid IS NOT NULL;
