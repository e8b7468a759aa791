"""The stream sampler's text widgets (engine/schedule_text.py): results, errors naming the input, caps."""
import pytest

from engine.errors import SemanticDrawInputError
from engine.schedule_text import (MAX_PROMPT_CHARS, MAX_SCHEDULE_CHARS, MAX_T_INDEX_CHARS, parse_prompt_schedule,
                                  parse_t_index_list)


@pytest.mark.parametrize("text, want", [("0, 16, 32", [0, 16, 32]), ("0 4\t12", [0, 4, 12]), (" 7 ", [7]),
                                        ("0,,49,", [0, 49])])
def test_t_index_list_parses(text, want):
    assert parse_t_index_list(text, 50) == want


@pytest.mark.parametrize("text, words", [
    (",,,", ["no indices", "e.g. '0, 16, 32'"]),
    ("a, b", ["not a comma-separated list of integers"]),
    ("0, --1", ["not a comma-separated list of integers"]),
    ("1.5", ["not a comma-separated list of integers"]),
    ("9" * 20, ["not a comma-separated list of integers"]),
    ("0, 12, 8", ["strictly increasing", "[0, 12, 8]"]),
    ("4, 4", ["strictly increasing"]),
    ("-1, 4", ["[0, 49]"]),
    ("0, 50", ["[0, 49]", "schedule_length"]),
    ("1," * 600, ["limit is 1000"]),
])
def test_t_index_list_errors_name_the_input(text, words):
    with pytest.raises(SemanticDrawInputError) as e:
        parse_t_index_list(text, 50)
    assert e.value.input_name == "t_index_list" and "sigmas" not in str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_prompt_schedule_parses_sorted_per_region():
    text = "# comment\n\n 2 @ 5 : a blue car \n1@0:a cat\n1@3: a dog: big\n2@1:"
    assert parse_prompt_schedule(text, regions=2, frames=8) == {
        0: [(0, "a cat"), (3, "a dog: big")], 1: [(1, ""), (5, "a blue car")]}


@pytest.mark.parametrize("text, words", [
    ("first: a cat", ["line 1", "is not 'region@frame: prompt'"]),
    ("1@0 a cat", ["line 1", "is not 'region@frame: prompt'"]),
    ("# ok\nx@1: a", ["line 2"]),
    ("1@-1: a", ["line 1", "is not"]),
    ("1@1.5: a", ["line 1", "is not"]),
    ("3@0: a", ["line 1", "region 3 does not exist (1..2)"]),
    ("0@0: a", ["region 0 does not exist"]),
    ("1@8: a", ["frame 8 is outside 0..7"]),
    ("1" * 80_000, ["line 1 has 80000 characters", f"limit is {MAX_PROMPT_CHARS}"]),
    ("1@0:" + " " * 80_000 + "x", ["line 1 has 80005 characters"]),
    ("1@0: a\n" * (MAX_SCHEDULE_CHARS // 7 + 1), [f"limit is {MAX_SCHEDULE_CHARS}"]),
    ("\n" * 10_001, ["10001 lines"]),
])
def test_prompt_schedule_errors_name_the_input_and_line(text, words):
    with pytest.raises(SemanticDrawInputError) as e:
        parse_prompt_schedule(text, regions=2, frames=8)
    assert e.value.input_name == "prompt_schedule"
    for w in words:
        assert w in str(e.value), str(e.value)


def test_longest_allowed_inputs_parse():
    """At the caps the parsers still accept well-formed input (a cap is a limit, not a truncation)."""
    line = "1@0: " + "a" * (MAX_PROMPT_CHARS - 5)
    assert parse_prompt_schedule(line, 1, 1) == {0: [(0, "a" * (MAX_PROMPT_CHARS - 5))]}
    text = ", ".join(str(i) for i in range(200))
    assert len(text) <= MAX_T_INDEX_CHARS and parse_t_index_list(text, 200) == list(range(200))
