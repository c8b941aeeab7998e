"""Persistence (SQL, the source of truth) and live state (tallies, bus)."""
