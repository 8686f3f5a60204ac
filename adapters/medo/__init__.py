"""The МЭДО adapter: xdms message folders, envelope.ini and 2.7 transport containers.

The adapter class and its documented form live in :mod:`adapters.medo.adapter`; the modules
beside it each hold one part of the format (names, envelope_ini, xdms, people, document,
notices, passport, container, files, message).
"""

from adapters.medo.adapter import MedoAdapter

__all__ = ["MedoAdapter"]
