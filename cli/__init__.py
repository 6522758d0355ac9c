"""The command-line face of Changeover: one module per command group over the use cases of ``changeover.core``.

``app`` assembles the parser from each group's ``register(commands)`` and runs one command; ``output`` shows
results (JSON, tables, the progress bar); ``options`` holds what the groups share.
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
