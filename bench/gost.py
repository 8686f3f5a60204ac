"""The GOST profile from the gateway: signatures/s, verifications/s, Streebog-256 MB/s.

In the same run, the same large file is hashed by ``openssl dgst -engine gost -md_gost12_256``
as the baseline (both read it from the page cache; the file is written, then read once before
timing). Signing is ``CmsSigner.sign`` of a 2 KiB envelope-sized text (a complete detached CMS
SignedData, certificate embedded); verifying is ``TrustPolicy.verify_from`` (parse, Streebog,
GOST signature, participant, chain and validity windows at the signing time) and, alone,
``verify_detached``. Targets (issue 7): Streebog within 1.3x of openssl; >= 5,000 signatures/s
and >= 2,500 verifications/s with 256-bit keys.

Run: ``.venv/bin/python bench/gost.py [--mib 1024] [--seconds 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, demo, gost, verify_detached
from gateway.crypto.gost import streebog


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``action`` over about ``seconds`` (best of three slices)."""
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        end = start + seconds / 3
        while (now := time.perf_counter()) < end:
            for _ in range(100):
                action()
            count += 100
        best = max(best, count / (now - start))
    return best


def signatures(profile: str, seconds: float) -> None:
    ca, ca_key = demo.new_ca(f"Bench CA {profile}", profile=profile)
    cert, key = demo.issue_certificate(ca, ca_key, "ru-61", "Bench", profile=profile)
    signer = CmsSigner(cert, key)
    policy = TrustPolicy(TrustStore([ca]), {"ru-61": [cert]})
    content = os.urandom(1024).hex().encode()  # 2 KiB, an envelope's size
    signature = signer.sign(content)
    policy.verify_from("ru-61", content, signature)  # warm: chain built and cached
    signs = rate(lambda: signer.sign(content), seconds)
    trusted = rate(lambda: policy.verify_from("ru-61", content, signature), seconds)
    plain = rate(lambda: verify_detached(signature, content), seconds)
    print(
        f"{profile:13} sign {signs:8,.0f}/s   verify (trust policy) {trusted:8,.0f}/s   "
        f"verify_detached {plain:8,.0f}/s"
    )


def write_file(path: Path, mib: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(mib):
            fh.write(block[i % 256 :] + block[: i % 256])


def hashing(mib: int, folder: Path) -> None:
    path = folder / "large.bin"
    write_file(path, mib)
    size = path.stat().st_size
    with path.open("rb") as fh:  # into the page cache, for both
        while fh.read(1 << 24):
            pass
    ours_best, ours_hex = 0.0, ""
    for _ in range(3):
        start = time.perf_counter()
        with path.open("rb") as fh:
            ours_hex = streebog.digest_stream(fh).hex()
        ours_best = max(ours_best, size / (time.perf_counter() - start) / 1e6)
    openssl = shutil.which("openssl")
    if openssl is None:
        print(f"Streebog-256 gateway {ours_best:7.1f} MB/s   (no openssl command for the baseline)")
        return
    theirs_best, theirs_hex = 0.0, ""
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run(
            [openssl, "dgst", "-engine", "gost", "-md_gost12_256", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        theirs_best = max(theirs_best, size / (time.perf_counter() - start) / 1e6)
        theirs_hex = result.stdout.rsplit("= ", 1)[-1].strip()
    same = "same digest" if theirs_hex == ours_hex else f"DIGESTS DIFFER ({theirs_hex})"
    print(
        f"Streebog-256 over {mib} MiB: gateway {ours_best:7.1f} MB/s   "
        f"openssl dgst -engine gost {theirs_best:7.1f} MB/s   "
        f"openssl/gateway {theirs_best / ours_best:4.2f}x   {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file to hash")
    parser.add_argument("--seconds", type=float, default=3.0, help="per signature figure")
    parser.add_argument("--folder", type=Path, default=None, help="where to write the file")
    args = parser.parse_args()
    problem = gost.problem()
    if problem is not None:
        raise SystemExit(f"the GOST engine is not available: {problem}")
    for profile in demo.GOST_PROFILES:
        signatures(profile, args.seconds)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        hashing(args.mib, Path(folder))


if __name__ == "__main__":
    main()
