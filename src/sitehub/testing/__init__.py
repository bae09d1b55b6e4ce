"""Helpers the molecule scenarios and benches use to drive real services."""
