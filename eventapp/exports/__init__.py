"""Exports: the Exporter base and its writers, and one module of exporters per area."""
