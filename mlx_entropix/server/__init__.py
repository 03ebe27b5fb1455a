"""The HTTP server: OpenAI-compatible and native SSE routes over one model."""

from .app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
