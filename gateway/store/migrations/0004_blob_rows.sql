-- Schema 4: small blobs as rows of the database (gateway/store/sqlite/blobs.py).
--
-- A blob of up to 256 KiB is committed by the writer with everything else in its group
-- commit, instead of as a file with syncs of its own. stored_at (Unix seconds) is when it was
-- last stored, for garbage collection's grace period.

-- The content comes last, so reading the other columns never walks its overflow pages; the
-- index lets garbage collection find old rows without reading any content.
CREATE TABLE blob_rows (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    data BLOB NOT NULL
);

CREATE INDEX blob_rows_stored_at ON blob_rows (stored_at, sha256);
