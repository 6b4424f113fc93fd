"""Durable storage: the Store contract (base.py) and its SQL implementation (sql.py)."""
