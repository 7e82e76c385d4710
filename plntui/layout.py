"""Provides the repository's layout: which documents a profile holds, their ids and first change.

A profile is a repository of small Automerge documents, each loaded only when needed:

=========================  =========================================================================
``c:<circle>``             a circle: its name, members (fingerprint -> name), device registry
                           (actor id -> name, fingerprint, date registered) and settings
``s:<circle>:<nn>``        one of the circle's 256 contact shards: the contacts, interactions and
                           redirects (ids merged away) whose id hashes to ``nn`` (2 hex digits)
``n:<circle>:<note id>``   one note: its fields and its Automerge Text body
=========================  =========================================================================

The private side is the circle named ``private``: its shards and notes hold private items and
the private fields of shared ones, and never leave the device (it has no circle document).

Every document of a kind starts from the same first change (``GENESIS[kind]``, shipped as bytes:
a fixed actor, time 0), so its top-level maps are one object on every replica: two devices that
each made a shard's ``contacts`` map would hide each other's contacts after a merge.

The shard count is fixed: 256 keeps one shard at 100,000 contacts near 400 contacts, which loads
in about 11 ms on a 2-core machine (``bench/README.md``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, Literal

import automerge.core as am

Kind = Literal["circle", "shard", "note"]
KINDS: Final[tuple[Kind, ...]] = ("circle", "shard", "note")
SCHEMA_VERSION: Final = 2
"""The document layout this plntui writes (1 was the single network document)."""
SHARDS: Final = 256
PRIVATE: Final = "private"
"""The circle id of the private side."""
LEGACY_CIRCLE: Final = hashlib.sha256(b"plntui-network-v1").hexdigest()[:16]
"""The circle a network document of plntui 0.1 becomes: the same id on every device that
migrates, so colleagues who synced before keep syncing one circle."""

MAPS: Final[dict[Kind, tuple[str, ...]]] = {
    "circle": ("members", "devices", "settings"),
    "shard": ("contacts", "interactions", "redirects"),
    "note": ("notes",),
}
COLLECTION_KIND: Final[dict[str, Kind]] = {
    "contacts": "shard",
    "interactions": "shard",
    "redirects": "shard",
    "notes": "note",
}

GENESIS: Final[dict[Kind, bytes]] = {
    "circle": bytes.fromhex(
        "856f4a83457555e900a3010110706c6e7475692d67656e65736973000201b0873f3353af452c81e133f830e2"
        "6c33b20321ea0bd0f29f85db7a68c47b3679060102030213022302400256020815262102230634014206560657"
        "078001027f007f017f057f007f007f077b0764657669636573046b696e64076d656d6265727306736368656d61"
        "0873657474696e677305007b047e017e04057b00010001007b0066001400636972636c6502050000"
    ),
    "shard": bytes.fromhex(
        "856f4a83bd0c84e000a9010110706c6e7475692d67656e65736973000201fc067998056bb869ff0f6ac44aeb"
        "3a9660f4f3d7a0458f820027904bb62ca7550601020302130223024002560208152d2102230634014206560657"
        "068001027f007f017f057f007f007f077b08636f6e74616374730c696e746572616374696f6e73046b696e6409"
        "72656469726563747306736368656d6105007b03017e037c0502007d01000102007d56001473686172640205"
        "0000"
    ),
    "note": bytes.fromhex(
        "856f4a836f842ecd0088010110706c6e7475692d67656e65736973000201399ff0c0f834a9b60c9ddabd582d"
        "d138306dc77696caaafe12d9bf64eb525954060102030213022302400256020815132102230434014204560457"
        "058001027f007f017f037f007f007f077d046b696e64056e6f74657306736368656d6103007d02017e037d0100"
        "017d4600146e6f746502030000"
    ),
}
GENESIS_ACTOR: Final = b"plntui-genesis\x00\x02"
GENESIS_HEADS: Final[dict[Kind, list[bytes]]] = {
    kind: am.Document.load(data).get_heads() for kind, data in GENESIS.items()
}

_CIRCLE_RE = re.compile(r"(?:[0-9a-f]{16}|private)")
_ITEM_RE = re.compile(r"[0-9a-f]{4,32}")


def make_genesis(kind: Kind) -> bytes:
    """How ``GENESIS[kind]`` was made (a test checks the shipped bytes against it)."""
    doc = am.Document(GENESIS_ACTOR)
    with doc.transaction() as tx:
        tx.put(am.ROOT, "schema", am.ScalarType.Int, SCHEMA_VERSION)
        tx.put(am.ROOT, "kind", am.ScalarType.Str, kind)
        for name in MAPS[kind]:
            tx.put_object(am.ROOT, name, am.ObjType.Map)
    return doc.save()


def new_document(kind: Kind, actor: bytes) -> am.Document:
    doc = am.Document.load(GENESIS[kind])
    doc.set_actor(actor)
    return doc


def shard_of(item_id: str) -> str:
    """The shard (2 hex digits) an id belongs to: the first byte of its SHA-256."""
    return hashlib.sha256(item_id.encode()).hexdigest()[:2]


def circle_doc(circle: str) -> str:
    return f"c:{circle}"


def shard_doc(circle: str, item_id: str) -> str:
    return f"s:{circle}:{shard_of(item_id)}"


def note_doc(circle: str, note_id: str) -> str:
    return f"n:{circle}:{note_id}"


def item_doc(circle: str, collection: str, item_id: str) -> str:
    """The document of ``circle`` that holds an item of ``collection`` (notes: their own)."""
    if collection == "notes":
        return note_doc(circle, item_id)
    return shard_doc(circle, item_id)


def parse_doc_id(doc_id: str) -> tuple[Kind, str, str] | None:
    """``(kind, circle, rest)`` of a well-formed document id, else ``None``."""
    if not isinstance(doc_id, str) or len(doc_id) > 64:
        return None
    parts = doc_id.split(":")
    if parts[0] == "c" and len(parts) == 2 and _CIRCLE_RE.fullmatch(parts[1]):
        if parts[1] == PRIVATE:
            return None
        return "circle", parts[1], ""
    if len(parts) != 3 or not _CIRCLE_RE.fullmatch(parts[1]):
        return None
    if parts[0] == "s" and re.fullmatch(r"[0-9a-f]{2}", parts[2]):
        return "shard", parts[1], parts[2]
    if parts[0] == "n" and _ITEM_RE.fullmatch(parts[2]):
        return "note", parts[1], parts[2]
    return None


def circle_of(doc_id: str) -> str:
    parsed = parse_doc_id(doc_id)
    if parsed is None:
        raise ValueError(f"not a document id: {doc_id!r}")
    return parsed[1]


def kind_of(doc_id: str) -> Kind:
    parsed = parse_doc_id(doc_id)
    if parsed is None:
        raise ValueError(f"not a document id: {doc_id!r}")
    return parsed[0]


def is_circle_id(text: str) -> bool:
    return bool(_CIRCLE_RE.fullmatch(text)) and text != PRIVATE
