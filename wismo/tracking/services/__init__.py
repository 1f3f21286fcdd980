"""Kernel services: every write to orders, shipments and timelines goes through these functions."""
