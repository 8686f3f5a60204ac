"""A message's file list as the JSON text both backends keep in their ``files`` column."""

from __future__ import annotations

import json

from gateway.store.api import StoredFile


def files_to_json(files: tuple[StoredFile, ...]) -> str:
    return json.dumps(
        [[f.file_id, f.name, f.sha256, f.size] for f in files],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def files_from_json(text: str) -> tuple[StoredFile, ...]:
    return tuple(StoredFile(fid, name, sha, size) for fid, name, sha, size in json.loads(text))
