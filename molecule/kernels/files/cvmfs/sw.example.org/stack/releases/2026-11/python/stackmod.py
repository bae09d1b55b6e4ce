"""Test fixture: a module of the fixture software stack, found through PYTHONPATH."""

RELEASE = "2026-11"
