"""Child process for the crash test: adds messages and prints each id once its add returned.

Run as ``python crash_child.py DATA_DIR``; the test kills it with SIGKILL part-way. Every id
printed was acknowledged by the store, so it must be there after the kill.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.store.api import NewMessage
from gateway.store.sqlite import SqliteStore
from tests.unit.store.messages import new_message


async def main(data_dir: Path) -> None:
    store = await SqliteStore.open(data_dir)
    print("ready", flush=True)
    batch = 0
    while True:  # until killed
        batch += 1
        messages = [new_message(message_id=f"crash-{batch}-{i}") for i in range(20)]
        await asyncio.gather(*(add_and_report(store, message) for message in messages))


async def add_and_report(store: SqliteStore, message: NewMessage) -> None:
    await store.add_outbound(message, actor="crash-test")
    sys.stdout.write(message.message_id + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
