"""Pitwall engine: the importable library behind the app, the CLI and the API."""

__version__ = "0.1.0"
