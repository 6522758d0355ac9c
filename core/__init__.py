"""Changeover's core: every use case as plain Python, with no Qt."""

__version__ = "0.1.0"
