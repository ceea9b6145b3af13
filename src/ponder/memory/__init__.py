"""Concept memory across questions, after ArcMemo (Ho et al. 2025, "ArcMemo: Abstract Reasoning
Composition with Lifelong LLM Memory", arXiv 2509.04439).

What the paper does: after a puzzle is solved, the model abstracts what the solution used into
reusable *concepts* rather than storing the raw solution. Its open-ended form writes each as a
*situation* (when it applies) and a *suggestion* (what to do); its program-synthesis form writes
typed, parameterised routines abstracted from solution programs. Before a new puzzle, concepts
are selected, either by a model reasoning about the puzzle and the memory (the paper's stronger
selection) or by a lighter retrieval, and the selected ones are put into the solver's prompt.
The memory is updated at test time as puzzles are solved, so later puzzles benefit from earlier
ones (it reports +7.5% relative on ARC-AGI over a strong no-memory baseline, and that updating the
memory during the test beats an otherwise identical fixed memory).

What ponder does differently, and why:

- Problems: math word problems, logic and code rather than ARC grids, so concepts are the
  open-ended situation -> suggestion pairs (plain ``situation:`` / ``suggestion:`` lines, not
  YAML), abstracted from the winning candidate's solution text rather than from a program.
- Selection: lexical (BM25) by default, since it costs no model call and a small model's
  selection is not obviously better; the paper's model selection is ``selection="model"``, over a
  lexical shortlist so that its prompt stays bounded as the memory grows. No embeddings: they
  would need a downloaded model.
- Writing: only after a verified run (a gold-graded benchmark problem, an executed verifier) or,
  when the user allows it, a confident vote; a wrong answer never writes (the paper abstracts
  from solutions judged correct). Near-duplicates are not stored twice.
- Budget: the system prompt gets at most ``token_cap`` tokens of concepts, and every
  abstraction or selection call is metered, so its cost is reported apart from the run's.

Modules: :mod:`~ponder.memory.concepts` (records, rendering), :mod:`~ponder.memory.store`
(SQLite), :mod:`~ponder.memory.write` (abstraction), :mod:`~ponder.memory.select` (reading),
:mod:`~ponder.memory.prompts`, :mod:`~ponder.memory.memory` (the :class:`Memory` a run uses).
"""

from ponder.memory.concepts import Concept, NewConcept, question_source, render_concepts
from ponder.memory.memory import Memory, Recall, Written
from ponder.memory.store import Addition, AddOutcome, MemoryStore, MemoryStoreError

__all__ = [
    "AddOutcome",
    "Addition",
    "Concept",
    "Memory",
    "MemoryStore",
    "MemoryStoreError",
    "NewConcept",
    "Recall",
    "Written",
    "question_source",
    "render_concepts",
]
