"""The sev adapter: EOS «ДЕЛО» through its СЭВ exchange folders (ГОСТ Р 53898-2013).

The module docstring of :mod:`adapters.sev.adapter` says what it reads and writes and its
config keys; docs/adapters/sev.md is the reference for operators and integrators.
"""

from adapters.sev.adapter import SevAdapter
from adapters.sev.config import SevConfig

__all__ = ["SevAdapter", "SevConfig"]
