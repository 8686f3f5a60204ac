"""Durable state of a gateway: the contract (:mod:`gateway.store.api`) and its backends."""
