"""The in-process vLLM engine (``--engine vllm``; extra ``ponder[vllm]``, needs a GPU).

Importing this package does not import vLLM: only the plugin's factory does
(:mod:`~ponder.engines.vllm.plugin`). :mod:`~ponder.engines.vllm.engine` holds the engine,
:mod:`~ponder.engines.vllm.mapping` the translation of requests and outputs.
"""

from ponder.engines.vllm.engine import VLLMEngine

__all__ = ["VLLMEngine"]
