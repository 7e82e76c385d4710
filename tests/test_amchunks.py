"""Automerge's stored bytes rewritten between their compact form and their wire form.

A document sent whole travels with its columns inflated (``amchunks.inflated``) so that the
frame's zlib compresses across documents, and is stored compact again (``deflated``). Both
forms must load to the same document; bytes that are not chunks are refused with ValueError.
"""

from __future__ import annotations

import os
import random
import zlib

import automerge.core as am
import pytest

from plntui import amchunks, checkpool, crdt, layout

VOCABULARY = (
    "graph databases mentoring kubernetes rust onboarding security the a of to and in for on "
    "with we met at conference talk about career data team review design notes follow up "
    "python elixir go hiring platform incident retro lunch coffee book paper idea question"
)
WORDS = VOCABULARY.split()
AUTHOR = bytes(range(16))


def note(number: int) -> bytes:
    """A note document as this device writes one: its item, a title, tags and a body of a few
    hundred characters, by one author."""
    doc = layout.new_document("note", AUTHOR)
    pick = random.Random(number)
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "notes", f"{number:012x}")
        crdt.put_scalar(tx, obj, "title", f"Note {number}")
        crdt.put_scalar(tx, obj, "created", f"2026-12-05T10:{number % 60:02d}:00Z")
        crdt.put_list(tx, obj, "tags", [pick.choice(WORDS), pick.choice(WORDS)])
        crdt.put_text(tx, obj, "body", " ".join(pick.choice(WORDS) for _n in range(60)))
    return doc.save()


def shard_with_log() -> bytes:
    """A shard's snapshot followed by change records, as storage keeps one between
    compactions (one record over the threshold: Automerge writes it as a compressed change
    chunk)."""
    doc = layout.new_document("shard", os.urandom(16))
    with doc.transaction() as tx:
        for n in range(40):
            obj = crdt.ensure_item(tx, "contacts", f"{n:012x}")
            crdt.put_scalar(tx, obj, "name", f"Ada Lovelace {n}")
            crdt.put_scalar(tx, obj, "org", "Analytical Engines")
    data = doc.save()
    before = doc.get_heads()
    with doc.transaction() as tx:
        for n in range(40):
            obj = crdt.ensure_item(tx, "contacts", f"{n:012x}")
            crdt.put_scalar(tx, obj, "role", f"Engineer of the difference engine, batch {n}")
    return data + b"".join(bytes(c.bytes) for c in doc.get_changes(before))


def same(a: bytes, b: bytes) -> bool:
    left, right = am.Document.load(a), am.Document.load(b)
    return left.get_heads() == right.get_heads() and left.save() == right.save()


@pytest.mark.parametrize("data", [note(1), shard_with_log()], ids=["note", "shard+log"])
def test_the_wire_form_and_the_compact_form_load_to_the_same_document(data: bytes) -> None:
    wire = amchunks.inflated(data, 1 << 20)
    assert len(wire) > len(data)  # its columns are inflated
    assert same(data, wire)
    compact = amchunks.deflated(wire)
    assert len(compact) < len(wire)
    assert same(data, compact)
    assert amchunks.deflated(compact) is compact  # nothing over the threshold left to deflate
    assert amchunks.inflated(wire, 1 << 20) is wire  # nothing left to inflate


def test_a_frame_of_documents_in_their_wire_form_compresses_across_them() -> None:
    docs = [note(n) for n in range(60)]
    stored = len(zlib.compress(b"".join(docs), 6))
    wire = len(zlib.compress(b"".join(amchunks.inflated(d, 1 << 20) for d in docs), 6))
    assert wire < 0.75 * stored, (wire, stored)  # about 0.64 here; 0.47 for a bench profile's notes


def test_small_documents_are_kept_as_they_are() -> None:
    data = layout.new_document("shard", os.urandom(16)).save()
    assert amchunks.inflated(data, 1 << 20) is data
    assert amchunks.deflated(data) is data


@pytest.mark.parametrize(
    "data",
    [b"not automerge at all", note(2)[:40], note(3)[:-3], amchunks.MAGIC + b"\x00" * 20],
    ids=["garbage", "cut-in-the-header", "truncated", "zeros"],
)
def test_bytes_that_are_not_chunks_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="chunk|number"):
        amchunks.inflated(data, 1 << 20)
    with pytest.raises(ValueError, match="chunk|number"):
        amchunks.deflated(data)


def test_inflating_past_the_limit_is_refused() -> None:
    data = note(4)
    with pytest.raises(ValueError, match="beyond"):
        amchunks.inflated(data, 300)


def test_a_document_received_in_its_wire_form_is_stored_compact() -> None:
    doc = layout.new_document("shard", os.urandom(16))
    with doc.transaction() as tx:
        for n in range(40):
            obj = crdt.ensure_item(tx, "contacts", f"{n:012x}")
            crdt.put_scalar(tx, obj, "name", f"Grace Hopper {n}")
    data = doc.save()
    doc_id = "s:0123456789abcdef:07"
    wire = amchunks.inflated(data, 1 << 20)
    result = checkpool.check_new(doc_id, wire)
    assert isinstance(result, checkpool.Checked)
    assert len(result.data) < len(wire)
    assert same(result.data, data)
    assert len(result.rows) == 40
    # bytes as they came (the stored form of an older peer) are stored as they came
    as_stored = checkpool.check_new(doc_id, data)
    assert isinstance(as_stored, checkpool.Checked) and as_stored.data is data
