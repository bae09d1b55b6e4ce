"""Renderers: turn the site model into what hosts are configured with."""
