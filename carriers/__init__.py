"""Carrier layer: a pure library (no database) that turns carrier responses into normalized events."""
