"""``gateway queue`` and ``gateway audit``: operator commands on a gateway's store.

They open the store beside a running gateway (without its process lock), act through the
store contract, and every change is written to the audit log under ``operator:<user>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from gateway import audit
from gateway import config as cfg
from gateway.cli_options import config_option
from gateway.errors import GatewayError
from gateway.store import open_store
from gateway.store.api import MessageRecord, State, Store

T = TypeVar("T")


def _with_store(config_path: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    config = cfg.load(config_path)

    async def run() -> T:
        store = await open_store(config.store, config.data_dir, lock=False)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _actor() -> str:
    return f"operator:{getpass.getuser()}"


def _refusal(error: GatewayError | KeyError | ValueError) -> click.ClickException:
    if isinstance(error, GatewayError):
        code, text = error.code, error.message
    elif isinstance(error, KeyError):
        code, text = "queue.unknown_message", f"no message {error.args[0]!r} in this gateway"
    else:
        code, text = "queue.wrong_state", str(error)
    return click.ClickException(f"[{code}] {text}")


@click.group()
def queue() -> None:
    """Look at and act on queued and dead-letter messages."""


@queue.command("ls")
@config_option
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in State]),
    help="Only these states (repeat); default: everything not yet done.",
)
@click.option("--all", "everything", is_flag=True, help="Every state, finished ones included.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def queue_ls(config_path: Path, states: tuple[str, ...], everything: bool, limit: int) -> None:
    """List messages, newest first, with their state and last error."""
    wanted = tuple(State(s) for s in states)
    if not wanted and not everything:
        wanted = (State.QUEUED, State.REJECTED, State.EXPIRED, State.ACCEPTED)

    async def action(store: Store) -> list[MessageRecord]:
        return await store.list_messages(states=wanted, limit=limit)

    try:
        records = _with_store(config_path, action)
    except GatewayError as exc:
        raise _refusal(exc) from None
    if not records:
        click.echo("no messages")
        return
    click.echo(f"{'message id':<38} {'dir':<5} {'peer':<14} {'state':<11} {'tries':>5}  detail")
    for r in records:
        detail = r.error_message or ""
        if r.state is State.QUEUED and r.next_attempt_at:
            detail = f"next {r.next_attempt_at:%Y-%m-%d %H:%M:%S}Z " + detail
        click.echo(
            f"{r.message_id:<38} {r.direction.value:<5} {r.peer:<14} {r.state.value:<11} "
            f"{r.attempts:>5}  {detail[:80]}"
        )


@queue.command("retry")
@config_option
@click.argument("message_id")
def queue_retry(config_path: Path, message_id: str) -> None:
    """Send a dead letter (rejected, expired, cancelled) again, now."""
    record = _operator_action(
        config_path,
        lambda store: store.retry(message_id, actor=_actor(), now=dt.datetime.now(dt.UTC)),
    )
    click.echo(f"{record.message_id}: {record.state.value}, due now (a running gateway sends it)")


@queue.command("cancel")
@config_option
@click.argument("message_id")
def queue_cancel(config_path: Path, message_id: str) -> None:
    """Stop trying to send a queued message."""
    record = _operator_action(config_path, lambda store: store.cancel(message_id, actor=_actor()))
    click.echo(f"{record.message_id}: {record.state.value}")


def _operator_action(
    config_path: Path, action: Callable[[Store], Awaitable[MessageRecord]]
) -> MessageRecord:
    try:
        return _with_store(config_path, action)
    except (GatewayError, KeyError, ValueError) as exc:
        raise _refusal(exc) from None


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@config_option
def audit_verify(config_path: Path) -> None:
    """Walk the whole audit chain; name the first broken record."""

    async def action(store: Store) -> int:
        checked, prev, after = 0, audit.GENESIS, 0
        while batch := await store.audit(after=after, limit=5000):
            checked += audit.verify(batch, prev_hash=prev, after=after)
            prev, after = batch[-1].hash, batch[-1].seq
        return checked

    try:
        count = _with_store(config_path, action)
    except GatewayError as exc:
        raise _refusal(exc) from None
    click.echo(f"audit chain intact: {count} records")
