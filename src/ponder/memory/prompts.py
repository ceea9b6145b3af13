"""The prompts memory sends to the model: abstracting concepts from a solved problem, and
choosing the concepts that fit a new one.

Both are adapted from ArcMemo's (Ho et al. 2025): the abstraction prompt asks for lessons as
``situation`` / ``suggestion`` pairs that are general (no numbers or names from the problem),
concrete (an action, not "be careful") and faithful to the solution; the selection prompt lists
the candidate concepts and asks which would help. ArcMemo's prompts describe ARC grid puzzles and
ask for YAML; these describe word problems and ask for plain ``key: value`` lines, which small
models follow more reliably and which parse without a YAML library's surprises.
"""

from __future__ import annotations

from collections.abc import Sequence

EXAMPLE_SITUATION = "a quantity is taken away from a starting amount and the amount left is asked"
EXAMPLE_SUGGESTION = "subtract the amount taken away from the starting amount"
"""The concept the abstraction prompt shows as an example (a reply that only repeats it is not
a lesson from the problem, so :func:`ponder.memory.write.parse_concepts` drops it)."""

ABSTRACT_SYSTEM = "You turn solved problems into short, reusable problem-solving lessons."

ABSTRACT_TEMPLATE = """Below is a problem with a correct solution. Write 1 to {max_concepts} reusable concepts \
learned from it: lessons that would help solve other problems with the same structure.

Write each concept as two lines:
situation: <the kind of problem or the pattern to recognise, in general terms>
suggestion: <the concrete step or method to apply>

Rules:
- General: no numbers, names, objects or units from this problem; describe its structure, not its story.
- Concrete: the suggestion is an action (which operation to do, which equation to set up), not advice \
such as "read carefully".
- Faithful: follow the method of the solution below.
Write only the concepts, nothing else.

Example of the format:
situation: {example_situation}
suggestion: {example_suggestion}

Problem:
{question}

Solution:
{solution}
{answer}"""

SELECT_SYSTEM = "You choose which lessons from earlier problems help with a new problem."

SELECT_TEMPLATE = """Lessons learned from earlier problems:
{concepts}

New problem:
{question}

Which of these lessons would help solve the new problem? Do not solve it. Reply with one line: \
"Relevant:" followed by the numbers of the helpful lessons, most helpful first (for example \
"Relevant: 3, 1"), or "Relevant: none" if none would help."""


def abstraction_prompt(*, question: str, solution: str, answer: str | None, max_concepts: int) -> tuple[str, str]:
    """The (system, user) messages asking for at most ``max_concepts`` concepts."""
    user = ABSTRACT_TEMPLATE.format(
        max_concepts=max_concepts,
        example_situation=EXAMPLE_SITUATION,
        example_suggestion=EXAMPLE_SUGGESTION,
        question=question.strip(),
        solution=solution.strip(),
        answer="" if answer is None else f"\nFinal answer: {answer}",
    )
    return ABSTRACT_SYSTEM, user


def selection_prompt(*, question: str, lines: Sequence[str]) -> tuple[str, str]:
    """The (system, user) messages asking which of ``lines`` (numbered from 1) fit ``question``."""
    numbered = "\n".join(f"{number}. {line}" for number, line in enumerate(lines, start=1))
    return SELECT_SYSTEM, SELECT_TEMPLATE.format(concepts=numbered, question=question.strip())
