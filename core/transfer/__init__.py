"""The transfer engine: back up, load and verify databases, same engine and across engines."""
