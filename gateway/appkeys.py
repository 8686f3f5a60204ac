"""The application's typed keys, in one place (aiohttp ``web.AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.api.auth import Tokens
from gateway.bridge import AdapterHost
from gateway.delivery import DeliveryWorker
from gateway.handoff import HandoffWorker
from gateway.identity import Identity
from gateway.intake import Intake
from gateway.metrics import Activity, Metrics
from gateway.store.api import Store

IDENTITY = web.AppKey("identity", Identity)
STORE = web.AppKey("store", Store)
INTAKE = web.AppKey("intake", Intake)
TOKENS = web.AppKey("tokens", Tokens)
DELIVERY = web.AppKey("delivery", DeliveryWorker)
HANDOFF = web.AppKey("handoff", HandoffWorker)
STOPPING = web.AppKey("stopping", asyncio.Event)
ADAPTERS = web.AppKey("adapters", AdapterHost)
METRICS = web.AppKey("metrics", Metrics)
ACTIVITY = web.AppKey("activity", Activity)
