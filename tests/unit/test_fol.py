"""The FOLIO-notation parser (ponder.logic.parser) and the z3 prover (ponder.logic.prover)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ponder.core.errors import InvalidInputError, PonderError
from ponder.logic import (
    And,
    Const,
    Eq,
    Exists,
    FOLParseError,
    Forall,
    Iff,
    Implies,
    LogicError,
    Not,
    OnTimeout,
    Or,
    Pred,
    Var,
    Verdict,
    Xor,
    decide,
    format_formula,
    parse,
    prover,
)


def p(name: str, *args: str) -> Pred:
    """An atom whose arguments are constants."""
    return Pred(name, tuple(Const(a) for a in args))


def px(name: str, *args: str) -> Pred:
    """An atom whose arguments are variables."""
    return Pred(name, tuple(Var(a) for a in args))


A, B, C, D = p("A"), p("B"), p("C"), p("D")

# --------------------------------------------------------------------------------------------
# Parser: precedence and associativity


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("¬A ∧ B", And(Not(A), B)),
        ("A ∧ B ∨ C", Or(And(A, B), C)),
        ("A ∨ B ∧ C", Or(A, And(B, C))),
        ("A ∧ B ⊕ C", Xor(And(A, B), C)),
        ("A ⊕ B ∨ C", Or(Xor(A, B), C)),
        ("A ∨ B ⊕ C", Or(A, Xor(B, C))),
        ("A ∨ B → C", Implies(Or(A, B), C)),
        ("A → B ↔ C", Iff(Implies(A, B), C)),
        ("A ↔ B → C", Iff(A, Implies(B, C))),
        ("A → B → C", Implies(A, Implies(B, C))),
        ("A ⊕ B ⊕ C", Xor(Xor(A, B), C)),
        ("A ∧ B ∧ C", And(And(A, B), C)),
        ("A ⊕ B → C ∧ D", Implies(Xor(A, B), And(C, D))),  # FOLIO's reading, validation row 2
        ("(A ∧ B) ∨ ¬A ∧ ¬B", Or(And(A, B), And(Not(A), Not(B)))),  # FOLIO rows 108-110, 173
        ("¬(A ∨ B)", Not(Or(A, B))),
        ("¬¬A", Not(Not(A))),
        ("((A))", A),
    ],
)
def test_precedence(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_quantifier_scope_extends_as_far_right_as_possible() -> None:
    assert parse("∀x P(x) → Q(x)") == Forall("x", Implies(px("P", "x"), px("Q", "x")))
    assert parse("A ∧ ∃x P(x) ∨ Q(x)") == And(A, Exists("x", Or(px("P", "x"), px("Q", "x"))))
    assert parse("¬∃x P(x) ∧ Q(x)") == Not(Exists("x", And(px("P", "x"), px("Q", "x"))))


def test_parentheses_close_a_quantifier_scope() -> None:
    tree = parse("(∀x P(x)) → Q(x)")
    assert tree == Implies(Forall("x", px("P", "x")), p("Q", "x"))  # the x outside is a constant


def test_nested_quantifiers_and_binding() -> None:
    tree = parse("∀x ∃y (Loves(x, y) ∧ Person(y) ∧ Knows(y, bob))")
    expected = Forall(
        "x", Exists("y", And(And(px("Loves", "x", "y"), px("Person", "y")), Pred("Knows", (Var("y"), Const("bob")))))
    )
    assert tree == expected


def test_folio_formula_with_iff_and_three_variables() -> None:
    tree = parse("∀x ∀y ∀z ((MemberOf(x, z) ∧ MemberOf(y, z)) → (Related(x, y) ∧ Related(y, x)))")
    assert isinstance(tree, Forall) and isinstance(tree.body, Forall) and isinstance(tree.body.body, Forall)
    assert isinstance(tree.body.body.body, Implies)


def test_folio_name_quirks() -> None:
    assert parse("MatureCompanies’Stocks(kO)") == p("MatureCompanies’Stocks", "kO")
    assert parse("ValuedAt(yalesendowment, y42.3billion)") == p("ValuedAt", "yalesendowment", "y42.3billion")
    assert parse("  ∀x  (Rent2000(x) ⟷ ¬DepositNoMoreThan1500(x))") == Forall(
        "x", Iff(px("Rent2000", "x"), Not(px("DepositNoMoreThan1500", "x")))
    )


def test_propositional_atoms_and_equality() -> None:
    assert parse("Rain → Wet") == Implies(Pred("Rain", ()), Pred("Wet", ()))
    assert parse("∃x (P(x) ∧ x = bob)") == Exists("x", And(px("P", "x"), Eq(Var("x"), Const("bob"))))
    assert parse("a ≠ b") == Not(Eq(Const("a"), Const("b")))
    assert parse("a != b") == parse("a ≠ b")


@pytest.mark.parametrize(
    ("ascii_text", "unicode_text"),
    [
        ("forall x (P(x) -> Q(x))", "∀x (P(x) → Q(x))"),
        ("exists x (P(x) & ~Q(x))", "∃x (P(x) ∧ ¬Q(x))"),
        ("all_ok(a) | not B", "all_ok(a) ∨ ¬B"),
        ("A && B || !C", "A ∧ B ∨ ¬C"),
        ("A xor B <-> C", "A ⊕ B ↔ C"),
        ("A and B or C implies D", "A ∧ B ∨ C → D"),
        ("A => B <=> C iff D", "A → B ↔ C ↔ D"),
        ("∀x. P(x)", "∀x P(x)"),
        ("∀x, y R(x, y)", "∀x ∀y R(x, y)"),
        ("Ɐx (P(x) ⇒ Q(x)) ⇔ A", "∀x (P(x) → Q(x)) ↔ A"),
        ("A ⊻ B", "A ⊕ B"),
        ("∀x (P(x) → Q(x)).", "∀x (P(x) → Q(x))"),
    ],
)
def test_ascii_and_unicode_spellings(ascii_text: str, unicode_text: str) -> None:
    assert parse(ascii_text) == parse(unicode_text)


@pytest.mark.parametrize(
    "text",
    [
        "∀x (Dog(x) → Mammal(x))",
        "(A ∧ B) ⊕ (¬A ∧ ¬B)",
        "(∀x P(x)) ∧ Q(a)",
        "¬(∃x P(x)) ∨ A",
        "∀x ∃y (R(x, y) ↔ x = y)",
        "A → B → C",
    ],
)
def test_format_round_trips(text: str) -> None:
    tree = parse(text)
    assert parse(format_formula(tree)) == tree


# --------------------------------------------------------------------------------------------
# Parser: errors


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("∀x (P(x) →", 10, "expected a formula, found end of input"),
        ("P(x) ∧∧ Q(x)", 6, "expected a formula, found '∧'"),
        ("", 0, "empty formula"),
        ("   ", 3, "empty formula"),
        ("∀x (P(x) ∧ Q(x)", 15, "expected ')' to close the '(' opened at position 3"),
        ("P(a) ∧ Q(b))", 11, "unmatched ')'"),
        ("∀x ∀y (S(x), N(x, y) → G(y))", 11, "expected ')' to close the '(' opened at position 6, found ','"),
        ("P(a) Q(b)", 5, "expected a connective or end of input"),
        ("P(f(a))", 3, "function terms"),
        ("∀ (P(x))", 2, "expected a name (a variable)"),
        ("∀x", 2, "expected the body of the quantifier"),
        ("∀x (x ∧ P(x))", 4, "variable 'x' used where a formula is expected"),
        ("P(a) # Q(a)", 5, "unexpected character '#'"),
        ("P(a,)", 4, "expected a name (a term)"),
        ("P(a). Q(a)", 4, "expected a connective or end of input, found '.'"),
        ("¬" * 100_000 + "A", 0, "nested too deeply"),
    ],
)
def test_errors_name_position_and_problem(text: str, position: int, problem: str) -> None:
    with pytest.raises(FOLParseError) as caught:
        parse(text)
    assert caught.value.position == position
    assert problem in str(caught.value)
    assert f"at position {position}" in str(caught.value)


def test_parse_error_is_a_typed_ponder_error() -> None:
    assert issubclass(FOLParseError, LogicError)
    assert issubclass(FOLParseError, InvalidInputError)
    assert issubclass(LogicError, PonderError)


# --------------------------------------------------------------------------------------------
# Prover


def test_modus_ponens_is_true() -> None:
    verdict = decide(["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)")
    assert verdict == Verdict("True", "the premises entail the conclusion")
    assert not verdict.is_error


def test_contradicted_conclusion_is_false() -> None:
    verdict = decide(["∀x (Bird(x) → ¬Mammal(x))", "Bird(tweety)"], "Mammal(tweety)")
    assert verdict.label == "False"


def test_unrelated_conclusion_is_uncertain() -> None:
    assert decide(["∀x (Bird(x) → Flies(x))", "Bird(tweety)"], "Swims(tweety)").label == "Uncertain"
    assert decide(["∀x (Bird(x) → Flies(x))"], "Bird(tweety)").label == "Uncertain"


def test_xor_and_iff() -> None:
    assert decide(["A ⊕ B", "A"], "¬B").label == "True"
    assert decide(["A ⊕ B", "A"], "B").label == "False"
    assert decide(["A ∨ B", "A"], "B").label == "Uncertain"
    assert decide(["∀x (P(x) ↔ Q(x))", "¬Q(a)"], "P(a)").label == "False"


def test_existentials_and_relations() -> None:
    premises = ["∀x ∀y ∀z (Taller(x, y) ∧ Taller(y, z) → Taller(x, z))", "Taller(a, b)", "Taller(b, c)"]
    assert decide(premises, "Taller(a, c)").label == "True"
    assert decide(premises, "∃x Taller(x, c)").label == "True"
    assert decide(premises, "Taller(c, a)").label == "Uncertain"


def test_same_name_with_different_arities_are_different_predicates() -> None:
    assert decide(["Likes(a)"], "Likes(a, b)").label == "Uncertain"
    assert decide(["Likes(a, b)", "Likes(a)"], "Likes(a) ∧ Likes(a, b)").label == "True"


def test_bound_variable_does_not_capture_a_constant_of_the_same_name() -> None:
    # (∀x P(x)) is not assumed; the constant x is just some individual.
    assert decide(["P(x)"], "∀x P(x)").label == "Uncertain"
    assert decide(["∀x P(x)"], "P(x)").label == "True"


def test_equality_and_distinct_constants() -> None:
    assert decide(["P(a)", "a = b"], "P(b)").label == "True"
    assert decide(["P(a)"], "P(b)").label == "Uncertain"  # no unique-name assumption
    assert decide(["P(a)", "¬P(b)"], "a = b").label == "False"


def test_inconsistent_premises_give_true_as_in_linc_and_say_so() -> None:
    """LINC's mapping: inconsistent premises prove anything, so the label is True; the verdict
    keeps the inconsistency visible (regression: it used to be an Error that did not vote)."""
    verdict = decide(["∀x (P(x) → Q(x))", "P(a)", "¬Q(a)"], "R(b)")
    assert verdict.label == "True"
    assert verdict.inconsistent and "inconsistent" in verdict.reason
    assert not verdict.is_error
    assert not decide(["P(a)"], "P(a)").inconsistent


def test_parse_error_is_an_error_verdict_naming_the_formula() -> None:
    verdict = decide(["P(a)", "∀x (P(x) →"], "Q(a)")
    assert verdict.label == "Error"
    assert "premise 2" in verdict.reason and "position 10" in verdict.reason
    verdict = decide(["P(a)"], "Q(a) ∧∧ R(a)")
    assert verdict.label == "Error" and "conclusion" in verdict.reason and "position 6" in verdict.reason


def test_no_answer_within_the_timeout_is_an_error_unless_asked_to_count_it_uncertain() -> None:
    # Satisfiable only in infinite models (a strict order without maximum): z3 cannot finish.
    premises = ["∀x ∃y R(x, y)", "∀x ∀y ∀z (R(x, y) ∧ R(y, z) → R(x, z))", "∀x ¬R(x, x)"]
    verdict = decide(premises, "P(a)", timeout_ms=200)
    assert verdict.label == "Error"  # LINC: Prover9 hitting its time limit raises, and the sample is an Error
    assert "200 ms" in verdict.reason
    verdict = decide(premises, "P(a)", timeout_ms=200, on_timeout="Uncertain")
    assert verdict.label == "Uncertain" and "200 ms" in verdict.reason


def test_timeout_must_be_positive() -> None:
    with pytest.raises(InvalidInputError):
        decide(["A"], "A", timeout_ms=0)
    with pytest.raises(InvalidInputError, match="on_timeout"):
        decide(["A"], "A", on_timeout="maybe")  # type: ignore[arg-type]


def test_decide_is_thread_safe() -> None:
    problems = [
        (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)", "True"),
        (["∀x (Bird(x) → ¬Mammal(x))", "Bird(tweety)"], "Mammal(tweety)", "False"),
        (["∀x (Bird(x) → Flies(x))", "Bird(tweety)"], "Swims(tweety)", "Uncertain"),
    ] * 8
    with ThreadPoolExecutor(max_workers=6) as pool:
        labels = list(pool.map(lambda case: decide(case[0], case[1]).label, problems))
    assert labels == [expected for _, _, expected in problems]


@pytest.mark.parametrize(
    ("on_timeout", "counter", "support", "label", "reason", "checks"),
    [
        # prove c (P ∧ ¬c unsat) -> True, whatever P ∧ c gives; both unsat: inconsistent premises.
        ("Error", "unsat", "sat", "True", "entail the conclusion", 2),
        ("Error", "unsat", "unknown", "True", "entail the conclusion", 2),
        ("Error", "unsat", "unsat", "True", "inconsistent", 2),
        # else prove ¬c (P ∧ c unsat) -> False.
        ("Error", "sat", "unsat", "False", "negation", 2),
        ("Error", "incomplete", "unsat", "False", "negation", 2),
        # else Uncertain: neither proved (z3 found a model, or gave up short of its time limit).
        ("Error", "sat", "sat", "Uncertain", "neither", 2),
        ("Error", "incomplete", "sat", "Uncertain", "gave up (incomplete quantifiers)", 2),
        ("Error", "sat", "incomplete", "Uncertain", "gave up", 2),
        ("Error", "incomplete", "incomplete", "Uncertain", "gave up", 2),
        # A time limit: Error (LINC's code: Prover9's limit raises), or not proved with on_timeout=Uncertain.
        ("Error", "timeout", "unsat", "Error", "could not prove the conclusion", 1),
        ("Error", "sat", "timeout", "Error", "could not prove the negation", 2),
        ("Uncertain", "timeout", "unsat", "False", "negation", 2),
        ("Uncertain", "timeout", "timeout", "Uncertain", "no answer within", 2),
        ("Uncertain", "sat", "timeout", "Uncertain", "no answer within", 2),
    ],
)
def test_decision_table(
    monkeypatch: pytest.MonkeyPatch,
    on_timeout: OnTimeout,
    counter: str,
    support: str,
    label: str,
    reason: str,
    checks: int,
) -> None:
    """LINC's mapping from the checks of P ∧ ¬c and P ∧ c (``incomplete``: z3 answered unknown for
    a reason other than its time limit)."""
    script = [counter, support]
    made: list[str] = []

    def scripted_check(solver: object, extra: object, deadline: float) -> prover._Outcome:
        made.append(script.pop(0))
        result = made[-1]
        if result == "timeout":
            return prover._Outcome("unknown", "timeout")
        if result == "incomplete":
            return prover._Outcome("unknown", "incomplete quantifiers")
        return prover._Outcome(result)  # type: ignore[arg-type]

    monkeypatch.setattr(prover, "_check", scripted_check)
    verdict = decide(["A"], "B", on_timeout=on_timeout)
    assert (verdict.label, len(made)) == (label, checks)
    assert reason in verdict.reason
    assert verdict.inconsistent == (counter == support == "unsat")
