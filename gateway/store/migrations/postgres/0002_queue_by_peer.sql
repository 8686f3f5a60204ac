-- Schema 2: the queue indexed by peer (gateway/store/postgres/outbox.py, claim).
--
-- A delivery worker claims at most two windows' worth of messages for one peer, so one peer's
-- backlog cannot hold every place while letters to other peers wait.
-- That claim lists the peers with queued messages and walks each one's queue in due order.
-- The index on due order alone stays: nodes of the previous version, still running during a
-- rolling upgrade, claim through it (a migration here only ever adds). Building the index
-- holds off writes to messages while it reads the table once; run
-- `gateway db upgrade` at a quiet time (docs/cluster.md).
CREATE INDEX messages_queue_peer ON messages (peer, due_at, id) WHERE state = 'queued';
