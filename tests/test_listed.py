"""Tests of the index's whole lists: records whose values are decoded when first read."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sqlite3
import threading
from typing import Any

import pytest

from plntui.listed import Listed, listed
from plntui.model import Record
from plntui.network import Network


def _people(net: Network) -> tuple[Record, Record]:
    ada = net.add(
        "contacts",
        {"name": "Ada Lovelace", "phones": ["+44 1234"], "topics": ["maths"]},
        private_fields=["phones"],
    )
    zed = net.add("contacts", {"name": "Zed Private"}, private=True)
    return ada, zed


def test_a_list_is_sorted_and_decodes_a_record_only_when_its_values_are_read(
    net: Network,
) -> None:
    mine, _zed = _people(net)
    net.add("contacts", {"name": "Émile Borel"})
    listed = net.index().list("contacts")
    assert [r.label for r in listed] == ["Ada Lovelace", "Émile Borel", "Zed Private"]
    assert all(type(r) is Listed and r.stored is not None for r in listed)  # labels alone

    ada = listed[0]
    assert ada.circle == mine.circle and ada.circle_name == mine.circle_name != ""
    assert ada.values["phones"] == ["+44 1234"]
    assert type(ada) is Record and ada.stored is None  # a plain record from here on
    assert ada.is_private("phones") and not ada.private_item
    assert ada.label == "Ada Lovelace"
    assert type(listed[1]) is Listed  # its neighbours are not decoded


def test_a_listed_record_is_the_record_that_get_returns(net: Network) -> None:
    ada, zed = _people(net)
    for item in (ada, zed):
        listed = next(r for r in net.index().list("contacts") if r.id == item.id)
        got = net.index().get("contacts", item.id)
        assert got is not None
        assert listed == got and got == listed  # before the listed one is decoded, both ways
        fresh = next(r for r in net.index().list("contacts") if r.id == item.id)
        assert got == fresh and fresh == got
        assert listed.to_json() == got.to_json() == net.get("contacts", item.id).to_json()
    private = next(r for r in net.index().list("contacts") if r.id == zed.id)
    assert private.private_item and private.circle == ""
    other = next(r for r in net.index().list("contacts") if r.id == ada.id)
    assert other != private and private != other


def test_writing_to_an_undecoded_record_keeps_the_rest(net: Network) -> None:
    ada, _zed = _people(net)
    listed = next(r for r in net.index().list("contacts") if r.id == ada.id)
    listed.values = {"name": "Ada King"}
    assert listed.values == {"name": "Ada King"}
    assert listed.private == frozenset({"phones"})
    assert listed.label == "Ada King"
    again = next(r for r in net.index().list("contacts") if r.id == ada.id)
    again.sources = []
    assert again.values["name"] == "Ada Lovelace" and type(again) is Record


def test_a_copy_or_a_pickle_of_a_listed_record_is_a_plain_record(net: Network) -> None:
    ada, _zed = _people(net)
    expected = net.index().get("contacts", ada.id)
    for duplicate in (copy.copy, lambda r: pickle.loads(pickle.dumps(r))):
        listed = next(r for r in net.index().list("contacts") if r.id == ada.id)
        assert type(listed) is Listed
        copied = duplicate(listed)
        assert type(copied) is Record and copied.stored is None
        assert copied == expected
        assert copied.values["topics"] == ["maths"] and copied.label == "Ada Lovelace"


def test_the_list_walks_the_sort_index_of_an_index_made_before_it(net: Network) -> None:
    _people(net)
    index = net.index()
    index.db.execute("DROP INDEX items_sorted")  # as an index made by an earlier version
    index.close()
    db = net.index().db
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_sorted'").fetchone()
    plan = " ".join(
        str(row[-1])
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT id, label, circle, data FROM items WHERE collection = ?"
            " ORDER BY sort_key, id",
            ("contacts",),
        )
    )
    assert "items_sorted" in plan and "TEMP B-TREE" not in plan
    assert [r.label for r in net.index().list("contacts")] == ["Ada Lovelace", "Zed Private"]


def test_dataclasses_replace_of_a_listed_record(net: Network) -> None:
    ada, _zed = _people(net)
    listed = next(r for r in net.index().list("contacts") if r.id == ada.id)
    renamed = dataclasses.replace(listed, values={"name": "Ada King"})
    assert renamed.values == {"name": "Ada King"} and renamed.label == "Ada King"
    assert renamed.private == frozenset({"phones"}) and listed.values["name"] == "Ada Lovelace"


def test_two_threads_reading_one_listed_record_see_one_decoding() -> None:
    data = json.dumps(
        {"values": {"name": "Ada"}, "private": [], "private_item": False, "sources": []}
    )
    records = [listed("contacts", f"{n:012x}", "Ada", "", "", data) for n in range(3000)]
    seen: list[list[object]] = [[], []]
    start = threading.Barrier(2)

    def read(out: list[object]) -> None:
        start.wait()
        out.extend(r.values for r in records)

    threads = [threading.Thread(target=read, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is b for a, b in zip(*seen, strict=True))  # the same dict, decoded once
    assert all(type(r) is Record and r.stored is None for r in records)


def test_an_index_locked_by_a_long_write_elsewhere_opens_without_its_sort_index(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    _people(net)
    index = net.index()
    index.db.execute("DROP INDEX items_sorted")  # as an index made by an earlier version
    index.close()
    inode = index.path.stat().st_ino
    other = sqlite3.connect(index.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing (its lock held)
    monkeypatch.setattr("plntui.index.sqlite3.connect", _short_timeout(sqlite3.connect))
    try:
        db = net.index().db
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_sorted'").fetchone()
        assert [r.label for r in net.index().list("contacts")] == ["Ada Lovelace", "Zed Private"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert index.path.stat().st_ino == inode  # not dropped as damaged and made again
    net.index().close()
    sorted_index = "SELECT 1 FROM sqlite_master WHERE name = 'items_sorted'"
    assert net.index().db.execute(sorted_index).fetchone()  # the next open adds it


def _short_timeout(connect: Any) -> Any:
    def quick(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs["timeout"] = 0.2
        return connect(*args, **kwargs)

    return quick
