"""Changeover's Qt face: views, table models and thin controllers over changeover.core."""
