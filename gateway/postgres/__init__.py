"""The PostgreSQL protocol: its codec (``wire``, sans-IO), its dialect and its listener.

Nothing is imported here, so that the codec can be used without the listener; the composition
root imports :class:`gateway.postgres.listener.PostgresListener` itself.
"""
