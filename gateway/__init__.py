"""Interregional document exchange gateway.

Moves official letters and notifications between regional and federal document systems as
signed XML envelopes. The walk of one letter is described in docs/ and DESIGN §3; the canonical
model lives in :mod:`gateway.model`, the wire envelope in :mod:`gateway.envelope`.
"""

__version__ = "0.1.0"
