"""Child process of tests/test_guard.py: a peer that writes what plntui never would.

Usage: ``python helpers_bad_peer.py HOME CASE SHARED [FOREIGN]``. It adds one contact to circle
``SHARED`` through the domain API (a new contact shard), then breaks that shard behind the API's
back, as a buggy, newer or compromised plntui could, and prints the id of the broken document.
``foreign`` instead writes a contact into circle ``FOREIGN`` (which the peer was removed from).
Every case also adds a good note to ``SHARED``, which must still reach the other side.
"""

from __future__ import annotations

import sys

import automerge.core as am


def main() -> int:
    from plntui import crdt, layout
    from plntui.network import Network

    home, case, shared = sys.argv[1], sys.argv[2], sys.argv[3]
    net = Network.open(home)
    net.add("notes", {"title": f"Good note ({case})", "body": "fine"}, circle=shared)
    if case == "foreign":
        circle = sys.argv[4]
        item = "fe" + "0" * 10
        doc_id = layout.shard_doc(circle, item)
        with net.repo.writing() as work:
            doc = work.doc(doc_id, create=True)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", item)
                crdt.put_scalar(tx, obj, "name", "Planted in a foreign circle")
        print(doc_id, flush=True)
        return 0
    record = net.add("contacts", {"name": f"Broken ({case})"}, circle=shared)
    doc_id = layout.shard_doc(shared, record.id)
    with net.repo.writing() as work:
        doc = work.doc(doc_id)
        with doc.transaction() as tx:
            obj = crdt.item_obj(tx, "contacts", record.id)
            if case == "schema":
                tx.put(am.ROOT, "schema", am.ScalarType.Int, 99)
            elif case == "map":
                tx.delete(am.ROOT, "contacts")
            elif case == "record":
                tx.put(obj, "name", am.ScalarType.Int, 5)
            elif case == "oversized":
                tx.put(obj, "org", am.ScalarType.Str, "x" * 10_000)
            else:
                raise SystemExit(f"unknown case {case}")
    print(doc_id, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
