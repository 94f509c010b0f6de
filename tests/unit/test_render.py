"""The run summaries' text: the biggest people by count (ties by name), then "and N more" with their photos."""

from __future__ import annotations

from facetui.core.base.events import RunSummary
from facetui.core.run.render import NO_KB_PEOPLE, TOP_PEOPLE, kb_people_lines, people_line, summary_lines


def library(n: int) -> dict[str, int]:
    """``n`` people: Person_000 has the most photos, two by two the counts fall (so ties are broken by name)."""
    return {f"Person_{i:03d}": 100 - i // 2 for i in range(n)}


def test_a_library_summary_names_the_top_people_and_counts_the_rest():
    per_person = library(261)
    s = RunSummary(kind="recognize", total=5437, done=5437, unknown=3461, known=1976, per_person=per_person)
    lines = summary_lines(s)
    assert lines[0].startswith("Batch done. 5437 files, Unknown = 3461 (63.66%).")
    people = lines[1]
    assert people.startswith("  Person_000: 100, Person_001: 100, Person_002: 99, ")
    rest = sum(n for name, n in per_person.items() if int(name[-3:]) >= TOP_PEOPLE)
    assert people.endswith(f"Person_009: 96, and 251 more ({rest:,} photos)")
    assert people.count(": ") == TOP_PEOPLE and len(people) < 250  # it was all 261 names on one line


def test_the_biggest_come_first_and_ties_go_by_name():
    assert people_line({"Zoe": 2, "Ann": 1, "Bob": 2}) == "Bob: 2, Zoe: 2, Ann: 1"
    assert people_line({"Ann": 1}) == "Ann: 1" and people_line({}) == ""
    eleven = {f"P{i:02d}": 1 for i in range(11)}
    assert people_line(eleven, "image").endswith("P09: 1, and 1 more (1 image)")


def test_the_kb_build_lists_at_most_the_top_people_then_the_rest():
    per_person = library(40)
    lines = kb_people_lines(per_person)
    assert len(lines) == TOP_PEOPLE + 1
    assert lines[0] == "  Person_000: 100 images" and lines[TOP_PEOPLE - 1] == "  Person_009: 96 images"
    assert lines[-1] == f"  and 30 more ({sum(100 - i // 2 for i in range(10, 40)):,} images)"
    s = RunSummary(kind="kb", total=3000, done=3000, people=40, per_person=per_person)
    assert summary_lines(s)[1 : TOP_PEOPLE + 2] == lines
    assert kb_people_lines({"Ann": 1, "Bob": 3}) == ["  Bob: 3 images", "  Ann: 1 image"]


def test_the_summary_says_again_why_everything_went_to_unknown():
    note = f"{NO_KB_PEOPLE} (no KB at kb/encodings.npz): every photo goes to Unknown/."
    s = RunSummary(kind="recognize", total=3, done=3, unknown=3, notices=("body recognition off: ...", note))
    assert summary_lines(s)[-1] == f"Note: {note}" and not any("body" in ln for ln in summary_lines(s))
