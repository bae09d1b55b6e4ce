"""sitehub: deploy a facility's Jupyter service from one site inventory."""

__version__ = "0.1.0"
