"""Final-answer extraction and normalisation."""

from __future__ import annotations

import pytest

from ponder.answers import NumericExtractor, extract_answer, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"So the result is \boxed{42}.", "42"),
        (r"First \boxed{7}, corrected: \boxed{9}", "9"),
        (r"Therefore \boxed{\frac{1}{2}}", "1/2"),
        (r"\boxed{\dfrac{3}{6}}", "1/2"),
        (r"\boxed{x^{2}+1}", "x^{2}+1"),
        (r"The answer is 5, i.e. \boxed{12}", "12"),
    ],
)
def test_boxed(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_empty_boxed_falls_back_to_other_rules() -> None:
    assert extract_answer(r"\boxed{} but the answer is 9") == "9"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She pays 3 * 400 = 1200 dollars.\n#### 1,200", "1200"),
        ("Step 1: 8 + 64 = 72\n#### 72\n", "72"),
        ("#### 5\nlater 99", "5"),
    ],
)
def test_gsm8k_hashes(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 2 = 5. The answer is 5.", "5"),
        ("The final answer is 12 + 4 = 16", "16"),
        ("So the answer to the problem is 12.", "12"),
        ("Answer: 42", "42"),
        ("ANSWER IS 9", "9"),
        ("The answer is 5. Then 7 more were added.", "5"),
        ("The answer is 3. Wait, I erred. The answer is 4.", "4"),
        ("The answer is $1,200.", "1200"),
        ("The answer is blue.", "blue"),
    ],
)
def test_answer_is_phrases(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I counted 3 apples and then 7 pears", "7"),
        ("It costs $1,200 in total", "1200"),
        ("The temperature fell to -5 degrees", "-5"),
        ("The answer is -3.", "-3"),
        ("Half of it: 2/4", "1/2"),
    ],
)
def test_last_number_and_signs(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "no numbers here at all", "I am not sure."])
def test_no_answer_is_none(text: str) -> None:
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,200", "1200"),
        ("12.0", "12"),
        ("12.00.", "12"),
        ("$12", "12"),
        (r"\$30", "30"),
        ("10%", "10"),
        ("2/4", "1/2"),
        ("4/2", "2"),
        (r"\frac{2}{4}", "1/2"),
        ("-0.50", "-0.5"),
        ("-.5", "-0.5"),
        ("3.50", "3.5"),
        (" 7. ", "7"),
        (r"\text{dogs}", "dogs"),
        ("Blue   Sky", "blue sky"),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12,345.67", "12345.67"), ("123456.7", "123456.7"), ("1234567.5", "1234567.5"), ("0.0000001", "0.0000001")],
)
def test_decimals_keep_their_value(raw: str, expected: str) -> None:
    # Regression: decimals were rounded to 6 significant digits ("123456.7" -> "123457").
    assert normalize_answer(raw) == expected


def test_equal_values_normalise_alike_and_different_values_do_not() -> None:
    assert len({normalize_answer(v) for v in ["12", "12.0", "$12", "12.", "24/2"]}) == 1
    assert normalize_answer("123456.7") != normalize_answer("123457")


def test_numeric_extractor_is_extract_answer() -> None:
    assert NumericExtractor()("The answer is 1,000.") == "1000"
