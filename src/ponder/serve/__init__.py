"""ponder's OpenAI-compatible server (extra ``server``)."""

from ponder.serve.app import create_app
from ponder.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
