"""Adapters that connect local document systems (ДЕЛО/СЭВ, МЭДО, drop folders, REST) to the gateway.

The contract (``adapters/api.py``) and the built-in adapters arrive with the adapters issue.
"""
