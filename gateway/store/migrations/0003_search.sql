-- Schema 3: what the operator console searches by.
--
-- Messages of one partner newest first (the partners page, the search by partner), and the
-- newest-first listing by creation time for a date range.

CREATE INDEX messages_peer ON messages (peer, id);
CREATE INDEX messages_created ON messages (created_at);
