"""The upgrade procedure: a journaled, resumable state machine."""
