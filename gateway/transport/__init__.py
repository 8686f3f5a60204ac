"""Gateway-to-gateway transport (DESIGN §5): ``POST /gw/v1/messages`` and its answers.

``wire`` holds the format (paths, part ids, headers, limits); ``server`` is the aiohttp endpoint
that hands requests to :mod:`gateway.receiver`; ``client`` sends one stored message to a peer
and checks the signed answer; ``tls`` builds the optional mutual-TLS contexts. Nothing is
imported here, so that domain code may import ``gateway.transport.wire`` without pulling in
``aiohttp.web``.
"""
