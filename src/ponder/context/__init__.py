"""What a strategy's step works with: the step context, metered engines, the run's scorers."""

from ponder.context.context import StepContext, mean_logprob, reply_prompt
from ponder.context.metered import MeteredEngine
from ponder.context.scorers import RunScorers

__all__ = ["MeteredEngine", "RunScorers", "StepContext", "mean_logprob", "reply_prompt"]
