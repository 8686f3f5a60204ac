"""What several letters per request could save: the per-letter cost of HTTP and of receipts.

The end-to-end run (``bench/e2e.py``) sends one letter per ``POST /gw/v1/messages`` and gets one
signed receipt back. A batched protocol (several envelopes in one request, one receipt for the
batch) would save two things per letter, and this script measures both on this machine:

1. **HTTP**: a bare aiohttp server in its own process reads the four parts of the standard
   letter (a 5 KB envelope, its 1.5 KB signature, a 100 KiB PDF and its 2 KiB ``.p7s``) from a
   ``multipart/related`` POST and answers with 1.5 KB, as a gateway does, but does nothing
   else. The client posts the same letters 1, 4 and 16 to a request. Printed: letters/s and
   the CPU per letter of the client and of the server (``/proc/<pid>/stat``).
2. **Receipts**: the gateway's own code, in this process: ``encode_receipt`` + CMS signature
   (the receiver's part, ECDSA P-256) and ``verify_from`` + ``decode_receipt`` (the sender's).

It ends with the sum: how much CPU per letter a batch of 16 would take off the ~7–8 ms that a
letter costs end to end on this machine (A + B + kernel), i.e. what such a protocol change
could buy before it is built. Run: ``.venv/bin/python bench/wire.py [--letters 4000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

PARTS = (5000, 1500, 100 * 1024, 2048)  # envelope, its signature, the PDF, its .p7s
ANSWER = 1500  # bytes: a signed receipt is about this size
CONCURRENCY = 8  # requests in flight, as a gateway's per-peer limit


async def _read_parts(request: web.Request) -> web.Response:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        while await part.read_chunk(1 << 16):
            pass
    return web.Response(body=b"r" * ANSWER, content_type="application/xml")


def serve(port: int) -> None:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/m", _read_parts)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_all(port: int, letters: int, per_request: int) -> float:
    blobs = [os.urandom(size) for size in PARTS]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate:
                with aiohttp.MultipartWriter("related") as body:
                    for _ in range(per_request):
                        for blob in blobs:
                            body.append(blob, {"Content-Type": "application/octet-stream"})
                async with session.post(f"http://127.0.0.1:{port}/m", data=body) as response:
                    assert response.status == 200
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(letters // per_request)))
        return time.perf_counter() - start


def http_costs(letters: int, batches: tuple[int, ...]) -> dict[int, float]:
    """CPU per letter (client + server, ms) for each number of letters per request."""
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        for _ in range(100):  # wait for the server to listen
            try:
                asyncio.run(post_all(port, 1, 1))
                break
            except aiohttp.ClientConnectionError:
                time.sleep(0.1)
        costs = {}
        for per_request in batches:
            own, theirs = time.process_time(), cpu_seconds(server.pid)
            wall = asyncio.run(post_all(port, letters, per_request))
            client = (time.process_time() - own) / letters * 1000
            served = (cpu_seconds(server.pid) - theirs) / letters * 1000
            costs[per_request] = client + served
            print(f"http  {per_request:>2} letter(s) per request: {letters / wall:>6,.0f} letters/s;"
                  f" CPU per letter: client {client:.3f} ms, server {served:.3f} ms")  # fmt: skip
        return costs
    finally:
        server.terminate()
        server.wait()


def per_call_ms(func: Callable[[], object], seconds: float = 1.0) -> float:
    func()
    calls, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        func()
        calls += 1
    return (time.process_time() - start) / calls * 1000


def receipt_costs() -> tuple[float, float]:
    """(receiver ms, sender ms) per receipt, ECDSA P-256, with the gateway's own code."""
    from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, issue_certificate, new_ca
    from gateway.model import FileDigest, Receipt
    from gateway.receipts import decode_receipt, encode_receipt

    ca_cert, ca_key = new_ca()
    cert, key = issue_certificate(ca_cert, ca_key, "ru-14", "Республика Саха (Якутия)")
    signer = CmsSigner(cert, key)
    trust = TrustPolicy(TrustStore([ca_cert]), {"ru-14": [cert]})
    receipt = Receipt(
        message_id="5f0e8a2c-7d41-4f7e-8a61-000000000001",
        time=dt.datetime.now(dt.UTC),
        sender="ru-14",
        recipient="ru-61",
        accepted=True,
        envelope_sha256="a" * 64,
        files=(FileDigest("f1", "b" * 64), FileDigest("s1", "c" * 64)),
    )
    document = encode_receipt(receipt)
    signature = signer.sign(document)
    receiver = per_call_ms(lambda: signer.sign(encode_receipt(receipt)))
    sender = per_call_ms(
        lambda: (trust.verify_from("ru-14", document, signature), decode_receipt(document))
    )
    print(f"receipt  receiver (encode + sign): {receiver:.3f} ms;"
          f" sender (verify + decode): {sender:.3f} ms")  # fmt: skip
    return receiver, sender


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=4000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    batches = (1, 4, 16)
    http = http_costs(args.letters, batches)
    receiver, sender = receipt_costs()
    one, most = http[batches[0]], http[batches[-1]]
    saved = (one - most) + (receiver + sender) * (1 - 1 / batches[-1])
    print(f"a batch of {batches[-1]} letters per request with one receipt would save about "
          f"{saved:.2f} ms of CPU per letter ({one - most:.2f} HTTP, "
          f"{(receiver + sender) * (1 - 1 / batches[-1]):.2f} receipts)")  # fmt: skip


if __name__ == "__main__":
    main()
