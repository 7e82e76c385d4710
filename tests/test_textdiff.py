"""Character diffs (``plntui.textdiff``): the fast common start and end agree with a plain
character-by-character scan, and the splices turn the old text into the new one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plntui.textdiff import changed_span, common_prefix, text_edits

TEXT = st.text(alphabet="ab\n é佐", max_size=60)


def naive_span(old: str, new: str) -> tuple[int, int, int]:
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while (
        end < min(len(old), len(new)) - start and old[len(old) - 1 - end] == new[len(new) - 1 - end]
    ):
        end += 1
    return start, len(old) - start - end, len(new) - start - end


@given(TEXT, TEXT)
def test_the_changed_span_is_the_one_a_plain_scan_finds(old: str, new: str) -> None:
    assert changed_span(old, new) == naive_span(old, new)
    assert common_prefix(old, new) == naive_span(old, new)[0]


@given(TEXT, TEXT)
def test_splices_turn_the_old_text_into_the_new(old: str, new: str) -> None:
    text = old
    for pos, delete, insert in reversed(text_edits(old, new)):
        text = text[:pos] + insert + text[pos + delete :]
    assert text == new
