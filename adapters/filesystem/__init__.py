"""The ``filesystem`` adapter: a JSON sidecar drop folder (:mod:`adapters.filesystem.adapter`)."""

from adapters.filesystem.adapter import FilesystemAdapter

__all__ = ["FilesystemAdapter"]
