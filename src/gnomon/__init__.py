"""gnomon: a self-hosted job scheduler. Importing this package starts nothing."""

__version__ = "0.1.0"
