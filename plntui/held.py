"""Provides held mass deletions: a peer's changes that would delete much of a circle wait for you.

A buggy script or a stolen laptop can delete a whole circle, and every member would follow. So
the sync host counts, per author device (the actor that made the changes, whichever peer
relays them) and per circle, the contacts and notes its changes delete within ``WINDOW``
seconds. When that count passes both thresholds (by default more than 20 items and more than
10 % of the circle's contacts or notes; ``plntui held --count N --percent P`` sets them per
profile), the batch is *held*: the author's changes to that circle from then on are kept aside,
unapplied, in ``repo.sqlite3`` (tables ``held_batches`` and ``held``), until you decide:

* **accept** applies them;
* **refuse** applies them and at once writes a restoring change for every item the batch deleted
  (those deleted before the threshold was reached too), so every replica converges with the
  items back.

Everything else keeps syncing meanwhile: other devices' changes, and the author's changes to
other circles.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError

WINDOW = 600.0
"""Seconds over which an author's deletions in one circle add up."""
DEFAULT_COUNT = 20
DEFAULT_PERCENT = 10


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A batch is held when it deletes more than ``count`` items and more than ``percent`` %
    of a circle's contacts or notes."""

    count: int = DEFAULT_COUNT
    percent: float = DEFAULT_PERCENT

    @classmethod
    def checked(cls, count: Any, percent: Any) -> Thresholds:
        try:
            count_value, percent_value = int(count), float(percent)
        except (TypeError, ValueError):
            raise ValidationError("the thresholds must be numbers") from None
        if not 1 <= count_value <= 1_000_000:
            raise ValidationError("--count must be from 1 to 1,000,000 items", "count")
        if not 0 <= percent_value <= 100:
            raise ValidationError("--percent must be from 0 to 100", "percent")
        return cls(count_value, percent_value)

    def exceeded(self, deleted: int, circle_size: int | Callable[[], int]) -> bool:
        """Whether ``deleted`` items of a circle of ``circle_size`` pass both thresholds (the
        size may be a function: it is asked only when the count alone passes)."""
        if deleted <= self.count:
            return False
        size = circle_size() if callable(circle_size) else circle_size
        return deleted * 100 > self.percent * max(size, 1)


@dataclass(slots=True)
class Deleted:
    """An item a peer's change deleted."""

    collection: str
    id: str
    name: str
    doc: str

    def to_json(self) -> dict[str, str]:
        return {"collection": self.collection, "id": self.id, "name": self.name, "doc": self.doc}


@dataclass(slots=True)
class Batch:
    """A held batch, as ``plntui held`` lists it."""

    id: str
    author: str
    """The author device's actor id (hex)."""
    circle: str
    via: str
    """The fingerprint (hex) of the peer it came through."""
    at: str
    deletes: list[Deleted] = field(default_factory=list)
    state: str = "held"
    changes: int = 0


class Window:
    """What each author deleted in each circle lately (in memory: a restart starts afresh)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], list[tuple[float, Deleted]]] = {}

    def add(
        self, author: str, circle: str, items: Iterable[Deleted], now: float | None = None
    ) -> list[Deleted]:
        """Count ``items``; return every item the author deleted in the circle within WINDOW."""
        now = time.monotonic() if now is None else now
        entries = [e for e in self._seen.get((author, circle), []) if now - e[0] < WINDOW]
        known = {(d.collection, d.id) for _t, d in entries}
        for item in items:
            if (item.collection, item.id) not in known:
                entries.append((now, item))
                known.add((item.collection, item.id))
        self._seen[(author, circle)] = entries
        return [d for _t, d in entries]

    def forget(self, author: str, circle: str) -> None:
        self._seen.pop((author, circle), None)


def new_batch_id() -> str:
    return secrets.token_hex(4)


def load_batches(db: Any, state: str | None = "held") -> list[Batch]:
    query = "SELECT id, author, circle, via, at, deletes, state FROM held_batches"
    args: tuple[Any, ...] = ()
    if state is not None:
        query += " WHERE state = ?"
        args = (state,)
    out = []
    for batch_id, author, circle, via, at, deletes, row_state in db.execute(
        query + " ORDER BY at", args
    ):
        items = [Deleted(**d) for d in json.loads(deletes)]
        count = db.execute("SELECT count(*) FROM held WHERE batch = ?", (batch_id,)).fetchone()[0]
        out.append(Batch(batch_id, author, circle, via, at, items, row_state, int(count)))
    return out


def save_batch(db: Any, batch: Batch) -> None:
    db.execute(
        "INSERT OR REPLACE INTO held_batches VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            batch.id,
            batch.author,
            batch.circle,
            batch.via,
            batch.at,
            json.dumps([d.to_json() for d in batch.deletes], ensure_ascii=False),
            batch.state,
        ),
    )


def held_changes(db: Any, batch_id: str) -> Mapping[str, list[bytes]]:
    """Document id -> the held changes (encoded), in the order they arrived."""
    out: dict[str, list[bytes]] = {}
    for doc_id, data in db.execute(
        "SELECT doc, data FROM held WHERE batch = ? ORDER BY seq", (batch_id,)
    ):
        out.setdefault(doc_id, []).append(bytes(data))
    return out
