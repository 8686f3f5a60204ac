"""The store's two threads: the one writer, which commits in groups, and the reader.

Each thread owns one connection and serves a queue. Callers on the event loop submit an
operation (a function of the connection) and await its result; the thread takes everything
queued (up to ``max_batch``) and hands all the results of a batch back to each caller's loop in
one wake-up.

The writer runs a batch of operations within one ``BEGIN IMMEDIATE … COMMIT``. With
``synchronous=FULL`` each COMMIT is an fsync; batching is what lets a hundred concurrent
writes share one. An operation that raises undoes only its own writes: the batch is then run
again with each operation in its own SAVEPOINT (an operation is a function of the connection
alone, so running it twice is safe). A failed COMMIT fails every operation of the batch with
StoreError: none of them happened.

The reader runs a batch of queries in one read transaction on a ``query_only`` connection: WAL
lets it read beside the writer without waiting for its fsyncs or taking the write lock (which
matters for operator tools reading beside a live gateway), and a batch sees one snapshot.
Measured against a pool of reader threads and against reading on the writer thread, one
batching reader thread served reads fastest and kept reads from queueing behind commits.

This module knows nothing of the schema. The writer never runs an operation outside a
transaction and never reports success for an operation before its COMMIT returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.store.api import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

Operation = Callable[[sqlite3.Connection], T]


@dataclass
class WriterStats:
    """What the writer has done; group commit shows as ``operations`` well above ``commits``.

    ``commits`` and ``operations`` count what was committed; ``largest_batch`` counts every
    transaction tried.
    """

    commits: int = 0
    operations: int = 0
    largest_batch: int = 0


@dataclass
class _Job(Generic[T]):
    operation: Operation[T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    outcome: tuple[bool, Any] | None = None  # (ok, result or exception) once run


_STOP = object()


class _ConnectionThread:
    """One connection, one thread, one queue of operations run in batches."""

    name = "store"

    def __init__(self, conn: sqlite3.Connection, *, max_batch: int = 256) -> None:
        self._conn = conn
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job[Any] | object] = queue.SimpleQueue()
        self._closing = False
        self._gate = threading.Lock()
        self._current: list[_Job[Any]] = []
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    async def submit(self, operation: Operation[T]) -> T:
        """Run ``operation(conn)`` in the thread's next batch; its result (the writer's:
        once committed).

        An operation works on the connection only (and may read the clock): the writer may run
        it twice, when another operation of its batch fails and the batch goes round again.

        Cancelling the awaiting task does not withdraw an operation already queued: a write
        may still commit. Write operations are therefore safe to repeat (idempotent intake,
        deduplication by message id, lease fencing).
        """
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(operation, loop.create_future(), loop)
        with self._gate:  # no job may slip in behind the stop marker and wait forever
            if self._closing:
                raise StoreError("the store is closed")
            self._queue.put(job)
        return await job.future

    async def close(self) -> None:
        """Finish everything already submitted, then stop the thread and close the connection."""
        with self._gate:
            first = not self._closing
            self._closing = True
        if first:
            self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch: list[_Job[Any]] = []
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stopping = True
                        break
                    assert isinstance(item, _Job)
                    batch.append(item)
                    if len(batch) >= self._max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._run_batch(batch)
        except BaseException:  # a bug here must not leave callers awaiting forever
            log.exception("the %s thread stopped unexpectedly", self.name)
            with self._gate:
                self._closing = True
            if self._conn.in_transaction:
                self._conn.rollback()
            crashed = StoreError(f"the {self.name} thread stopped unexpectedly; see the log")
            for job in self._current:
                job.outcome = (False, crashed)
            self._deliver(self._current)
        finally:
            self._fail_queued()
            self._conn.close()

    def _run_batch(self, batch: list[_Job[Any]]) -> None:
        pending = batch
        while pending:
            self._current = pending
            done, pending = self._transaction(pending)
            self._current = []
            self._deliver(done)

    def _transaction(self, jobs: list[_Job[Any]]) -> tuple[list[_Job[Any]], list[_Job[Any]]]:
        """Run ``jobs``, setting each one's outcome; returns (finished, left for another)."""
        raise NotImplementedError

    def _deliver(self, jobs: list[_Job[Any]]) -> None:
        """Hand results back, one wake-up per event loop rather than one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job[Any]]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, loop_jobs in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, loop_jobs)

    def _fail_queued(self) -> None:
        left = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                item.outcome = (False, StoreError("the store is closed"))
                left.append(item)
        self._deliver(left)


class Writer(_ConnectionThread):
    """Runs write operations, many per transaction, each in its own savepoint."""

    name = "store-writer"

    def __init__(self, conn: sqlite3.Connection, *, max_batch: int = 256) -> None:
        self.stats = WriterStats()
        super().__init__(conn, max_batch=max_batch)

    def _transaction(self, jobs: list[_Job[Any]]) -> tuple[list[_Job[Any]], list[_Job[Any]]]:
        """Run ``jobs`` in one transaction; returns (finished jobs, jobs left for a new one).

        First without savepoints: two statements less per operation, and every statement on
        this thread is a round of waiting for the GIL. Should any operation raise, that
        transaction is rolled back whole and the batch runs again with a savepoint around each
        operation (:meth:`_one_by_one`), so only the failing one is undone. Operations are
        functions of the connection, so running one twice changes nothing but the database.
        """
        if not self._begin(jobs):
            return jobs, []
        conn = self._conn
        for job in jobs:
            try:
                job.outcome = (True, job.operation(conn))
            except Exception:
                break
        else:
            return self._commit(jobs)
        for job in jobs:
            job.outcome = None
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                self._abandon(jobs, exc)
                return jobs, []
        return self._one_by_one(jobs)

    def _one_by_one(self, jobs: list[_Job[Any]]) -> tuple[list[_Job[Any]], list[_Job[Any]]]:
        """Run ``jobs`` in one transaction, each in its own savepoint; returns (finished jobs,
        jobs left for a new one).

        Jobs are left over only when SQLite rolled the whole transaction back by itself in
        the middle (it does so on disk-full and I/O errors): the jobs run so far failed with
        it, the rest get a fresh transaction.
        """
        if not self._begin(jobs):
            return jobs, []
        conn = self._conn
        ran: list[_Job[Any]] = []
        for index, job in enumerate(jobs):
            ran.append(job)
            try:
                conn.execute("SAVEPOINT op")
                job.outcome = (True, job.operation(conn))
                conn.execute("RELEASE op")
            except Exception as exc:  # the operation's own failure: undo only its writes
                job.outcome = (False, _as_store_error(exc))
                if not conn.in_transaction:
                    lost = StoreError(f"the transaction was rolled back by the database: {exc}")
                    for earlier in ran[:-1]:
                        earlier.outcome = (False, lost)
                    return ran, jobs[index + 1 :]
                try:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                except sqlite3.Error as undo:
                    self._abandon(ran, undo)
                    return ran, jobs[index + 1 :]
        return self._commit(ran)

    def _begin(self, jobs: list[_Job[Any]]) -> bool:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for job in jobs:
                job.outcome = (False, StoreError(f"cannot start a transaction: {exc}"))
            return False
        return True

    def _commit(self, ran: list[_Job[Any]]) -> tuple[list[_Job[Any]], list[_Job[Any]]]:
        self.stats.largest_batch = max(self.stats.largest_batch, len(ran))
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon(ran, exc)
            return ran, []
        self.stats.commits += 1
        self.stats.operations += len(ran)
        return ran, []

    def _abandon(self, jobs: list[_Job[Any]], exc: sqlite3.Error) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback after a failed transaction failed too")
        failure = StoreError(f"the transaction failed, nothing of it was written: {exc}")
        for job in jobs:
            job.outcome = (False, failure)


class Reader(_ConnectionThread):
    """Runs queries, a batch per read transaction (one snapshot, one WAL read lock)."""

    name = "store-reader"

    def _transaction(self, jobs: list[_Job[Any]]) -> tuple[list[_Job[Any]], list[_Job[Any]]]:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            for job in jobs:
                try:
                    job.outcome = (True, job.operation(conn))
                except Exception as exc:  # one query's failure is its own
                    job.outcome = (False, _as_store_error(exc))
        except sqlite3.Error as exc:
            for job in jobs:
                if job.outcome is None:
                    job.outcome = (False, _as_store_error(exc))
        finally:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")  # nothing to keep: the connection is query_only
                except sqlite3.Error:
                    log.exception("ending a read transaction failed")
        return jobs, []


def _settle(jobs: list[_Job[Any]]) -> None:
    for job in jobs:
        if job.future.done() or job.outcome is None:  # cancelled while queued
            continue
        ok, value = job.outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _as_store_error(exc: Exception) -> Exception:
    """Database failures become StoreError; an operation's own errors (KeyError for an
    unknown message, ValueError for a forbidden change) reach the caller unchanged."""
    if isinstance(exc, sqlite3.Error):
        store_error = StoreError(f"database error: {exc}")
        store_error.__cause__ = exc
        return store_error
    return exc
