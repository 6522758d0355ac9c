"""Moved: ``display_url`` lives in :mod:`changeover.core.engines`, the type map in :mod:`.copy.typemap`.

This name stays until core/upgrade/steps.py imports ``display_url`` from ``changeover.core.engines``
(then delete this file)."""

from ..engines import display_url

__all__ = ["display_url"]
