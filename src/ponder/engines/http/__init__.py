"""The OpenAI-compatible HTTP engine and its endpoint profiles."""

from ponder.engines.http.engine import OpenAIEngine
from ponder.engines.http.profiles import PROFILES, EndpointProfile, detect_profile, get_profile

__all__ = ["EndpointProfile", "OpenAIEngine", "PROFILES", "detect_profile", "get_profile"]
