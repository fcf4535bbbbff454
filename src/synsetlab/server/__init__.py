"""The challenge server: a FastAPI app over a workspace (JSON API + Jinja2 pages)."""

from synsetlab.server.app import create_app

__all__ = ["create_app"]
