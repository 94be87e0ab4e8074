"""The domain: values (conferences, events, states), the pure diff, errors, secrets, strict JSON,
and the network words every stage shares (TLS, connection errors). Imports nothing else of
the monitor: every other stage builds on it.
"""
