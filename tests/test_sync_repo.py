"""Two profiles syncing in one process over TLS on loopback, through the repository: a failed
edit while linked, live edits, and what the engine holds."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from plntui import layout
from plntui.network import Network
from plntui.peersync import SyncRunner
from tests.repo_helpers import join


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def linked(a: Network, b: Network) -> AsyncIterator[tuple[SyncRunner, SyncRunner]]:
    logs: list[str] = []
    runners = [
        SyncRunner(net, listen_host="127.0.0.1", port=0, discovery=False, log=logs.append)
        for net in (a, b)
    ]
    for runner in runners:
        await runner.start()
    try:
        assert a.profile.fingerprint is not None
        runners[1].engine.connect(a.profile.fingerprint, "127.0.0.1", runners[0].engine.port)
        yield runners[0], runners[1]
    finally:
        for runner in runners:
            await runner.stop()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Network, Network]:
    a = Network.create(tmp_path / "a", "A")
    b = Network.create(tmp_path / "b", "B")
    join(a, b)
    return a, b


def labels(net: Network) -> set[str]:
    net.profile.refresh()
    return {c.label for c in net.contacts()}


async def test_a_failed_edit_while_a_peer_is_linked_keeps_sync_working(
    pair: tuple[Network, Network], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    ada = a.add("contacts", {"name": "Ada"})
    doc_id = layout.shard_doc(a.default_circle().id, ada.id)
    async with linked(a, b) as (runner_a, _runner_b):
        await until(lambda: "Ada" in labels(b), 20, "the first sync")
        with a.lock:
            live = a.repo.get(doc_id)
        # an edit that fails in the middle (a bug, Ctrl-C)...
        with pytest.raises(RuntimeError), a._writing():  # noqa: PT012 - it fails inside the write
            a.edit("contacts", ada.id, {"org": "Half"})
            raise RuntimeError("boom")
        # ...and a full disk while the new snapshot of a compaction is written
        from plntui import repo as repo_mod
        from plntui import storage as storage_mod

        monkeypatch.setattr(repo_mod, "COMPACT_CHUNKS", 1)

        def full(*args: object, **kwargs: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(storage_mod.Writer, "put", full)
        with pytest.raises(OSError, match="No space"):
            a.edit("contacts", ada.id, {"org": "Never stored"})
        monkeypatch.undo()
        # the peer's next change still lands, into the very document the repository holds
        b.edit("contacts", ada.id, {"role": "Analyst"})
        await until(
            lambda: a.get("contacts", ada.id).values.get("role") == "Analyst",
            20,
            "the peer's change after the failures",
        )
        with a.lock:
            assert a.repo.get(doc_id) is live
        assert runner_a.host.repo is a.repo  # the engine asks the one owner, holds nothing
        assert "org" not in a.get("contacts", ada.id).values
        assert "org" not in Network.open(a.profile.home).get("contacts", ada.id).values
        a.edit("contacts", ada.id, {"org": "Engines"})
        await until(
            lambda: b.get("contacts", ada.id).values.get("org") == "Engines",
            20,
            "an edit after the failures to reach the peer",
        )


async def test_a_small_edit_reaches_a_linked_peer_and_the_index_follows(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    a.add("contacts", {"name": "Seed"})
    async with linked(a, b):
        await until(lambda: "Seed" in labels(b), 20, "the first sync")
        note = a.add("notes", {"title": "Fresh note", "body": "typed here"})
        await until(
            lambda: [n.id for n in b.search("fresh")["notes"]] == [note.id],
            20,
            "a new note to be searchable on the peer",
        )
        a.splice_note(note.id, 0, 0, "Live: ")
        await until(
            lambda: b.get("notes", note.id).values["body"] == "Live: typed here",
            20,
            "a splice to arrive",
        )
