"""Skip GOST tests when the OpenSSL GOST engine is absent, unless GATEWAY_REQUIRE_GOST=1.

CI sets GATEWAY_REQUIRE_GOST=1 (and installs libengine-gost-openssl), so that the GOST proof
can never silently turn into skips there.
"""

from __future__ import annotations

import os

import pytest

from gateway.crypto import gost


def require_gost() -> None:
    why = gost.problem()
    if why is None:
        return
    if os.environ.get("GATEWAY_REQUIRE_GOST") == "1":
        pytest.fail(f"GATEWAY_REQUIRE_GOST=1, but the GOST engine cannot be used: {why}")
    pytest.skip(f"the OpenSSL GOST engine is not available ({gost.PACKAGE}): {why}")
