-- Schema 5: the queue indexed by peer (gateway/store/sqlite/outbox.py, claim).
--
-- A delivery worker claims at most two windows' worth of messages for one peer, so one peer's
-- backlog cannot hold every place while letters to other peers wait.
-- That claim lists the peers with queued messages and walks each one's queue in due order;
-- it no longer walks the whole queue in due order, so the index that served that goes.
CREATE INDEX messages_queue_peer ON messages (peer, due_at, id) WHERE state = 'queued';
DROP INDEX messages_queue;
