"""The HTTP API for local systems and operators (token auth), beside the signed wire endpoint."""
