"""ponder: better reasoning from language models by spending inference-time compute well.

>>> import ponder
>>> result = ponder.solve("What is 17 * 3?", strategy="self-consistency", budget=8)
>>> result.answer, result.votes, result.usage.completion_tokens
"""

from importlib.metadata import version

from ponder.api import alinc, asolve, linc, plan, solve, start
from ponder.bench.route_search import aroute, route
from ponder.core.errors import PonderError
from ponder.core.result import Candidate, SolveResult
from ponder.core.settings import SolveSettings
from ponder.core.usage import Usage
from ponder.engines import Completion, Engine, FakeEngine, GenerationRequest, Message, create_engine
from ponder.tune import atune, tune

__version__ = version("ponder")  # the one version number is in pyproject.toml

__all__ = [
    "Candidate",
    "Completion",
    "Engine",
    "FakeEngine",
    "GenerationRequest",
    "Message",
    "PonderError",
    "SolveResult",
    "SolveSettings",
    "Usage",
    "alinc",
    "aroute",
    "asolve",
    "create_engine",
    "linc",
    "plan",
    "route",
    "solve",
    "start",
    "atune",
    "tune",
    "__version__",
]
