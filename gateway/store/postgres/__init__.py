"""The PostgreSQL backend: several gateway nodes on one database (see ``docs/cluster.md``).

The store is :class:`gateway.store.postgres.store.PostgresStore`; this package imports nothing
on its own, so that :mod:`gateway.store.postgres.url` works without asyncpg installed.
"""
