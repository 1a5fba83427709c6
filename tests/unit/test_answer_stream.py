"""Merging text entries for a relay that fell behind keeps the text, the order and the resume point."""

from eneo.core.streams import Entry, coalesce, valid_entry_id


def test_consecutive_text_entries_merge_under_the_last_id() -> None:
    entries = [Entry("1-0", "first_chunk", {"references": []}), Entry("2-0", "text", {"text": "Hej "}),
               Entry("2-1", "text", {"text": "på "}), Entry("3-0", "text", {"text": "dig"}),
               Entry("4-0", "done", {"usage": None})]
    merged = coalesce(entries)
    assert [(e.id, e.type) for e in merged] == [("1-0", "first_chunk"), ("3-0", "text"), ("4-0", "done")]
    assert merged[1].data["text"] == "Hej på dig"


def test_entries_of_other_types_are_never_merged_or_moved() -> None:
    entries = [Entry("1-0", "text", {"text": "a"}), Entry("2-0", "error", {"code": "x"}),
               Entry("3-0", "text", {"text": "b"})]
    assert coalesce(entries) == entries
    assert coalesce([]) == []


def test_only_redis_entry_ids_are_accepted_from_clients() -> None:
    assert valid_entry_id("1700000000000-0") and valid_entry_id("0-0")
    assert valid_entry_id(f"{2**64 - 1}-{2**64 - 1}")
    for bad in ("", "-", "1700000000000", "abc-1", "1-2-3", "$", ">", "1" * 40 + "-1", "\u0661-\u0661",
                f"{2**64}-0", "99999999999999999999999-0", " 1-0"):
        assert not valid_entry_id(bad), bad
