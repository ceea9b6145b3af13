"""Final answers: extraction, normalisation and equivalence, bundled per task."""

from ponder.answers.equivalence import math_equivalent
from ponder.answers.extract import AnswerExtractor, NumericExtractor, extract_answer, normalize_answer
from ponder.answers.tasks import DEFAULT_TASK, TASKS, AnswerTask, extract_choice, extract_label, get_task

__all__ = [
    "AnswerExtractor",
    "AnswerTask",
    "DEFAULT_TASK",
    "NumericExtractor",
    "TASKS",
    "extract_answer",
    "extract_choice",
    "extract_label",
    "get_task",
    "math_equivalent",
    "normalize_answer",
]
