"""The ``rest`` adapter: HTTP push/pull and webhooks (:mod:`adapters.rest.adapter`)."""

from adapters.rest.adapter import RestAdapter
from adapters.rest.webhook import WebhookError

__all__ = ["RestAdapter", "WebhookError"]
