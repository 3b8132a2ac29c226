"""The HTTP routes, one Chalice Blueprint per feature, registered by ``app.py``."""
