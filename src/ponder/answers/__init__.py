"""Final-answer extraction and normalisation (numbers and ``\\boxed{}`` answers)."""

from ponder.answers.extract import AnswerExtractor, NumericExtractor, extract_answer, normalize_answer

__all__ = ["AnswerExtractor", "NumericExtractor", "extract_answer", "normalize_answer"]
