"""Provides the sync benchmark: a new peer receiving a large network, live edits, ten peers."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import gc
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not this file.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

import automerge.core as am  # noqa: E402
from _profiles import Generator  # noqa: E402
from core import child_env, fmt, log, machine  # noqa: E402

from plntui import crdt  # noqa: E402
from plntui.index import SearchIndex  # noqa: E402
from plntui.network import Network  # noqa: E402
from plntui.peersync import ProfileHost  # noqa: E402
from plntui.profile import Profile  # noqa: E402
from sync.engine import EngineEvent, SyncEngine  # noqa: E402
from sync.identity import Identity  # noqa: E402
from sync.trust import TrustStore  # noqa: E402

IMPORT_BATCH = 500
SNAPSHOT_LEVEL = 6  # what sync.session compresses its snapshot with
LOOPBACK = "127.0.0.1"
WAIT = 120.0  # seconds before a scenario is declared stuck
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reps:
    """How many times each scenario runs."""

    receive: int = 3  # per kind of new peer, certificates known
    edits: int = 30
    converge: int = 3  # per topology and per way of running the peers


QUICK = Reps(receive=1, edits=10, converge=1)


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the table: ``op`` is how the value must compare with ``target`` to pass."""

    key: str
    label: str
    unit: str  # "s", "bytes", "kib", "x"
    target: float | None = None
    op: str = "<"


def metrics(contacts: int, peers: int) -> tuple[Metric, ...]:
    n = f"{contacts:,}"
    return (
        Metric("snapshot", f"Alice's network, {n} contacts: zlib(doc.save())", "bytes"),
        Metric("init_time", "new peer (plntui init), certs known: dial → all stored", "s", 1.0),
        Metric("init_time_first", "new peer (plntui init), first contact (learns certs)", "s", 1.0),
        Metric("init_persist", "  of which Bob's host.persist (store_remote_changes)", "s"),
        Metric("init_bytes", "  bytes Bob received (sync frames)", "bytes"),
        Metric("init_ratio", "  ÷ compressed snapshot", "x", 1.5, "<="),
        Metric("init_tls_ratio", "  TLS bytes on the wire ÷ compressed snapshot", "x", 1.5, "<="),
        Metric("empty_time", "new peer (genesis only), certs known: dial → all stored", "s", 1.0),
        Metric("empty_persist", "  of which Bob's host.persist (store_remote_changes)", "s"),
        Metric("empty_bytes", "  bytes Bob received (sync frames)", "bytes"),
        Metric("empty_ratio", "  ÷ compressed snapshot", "x", 1.5, "<="),
        Metric("empty_tls_ratio", "  TLS bytes on the wire ÷ compressed snapshot", "x", 1.5, "<="),
        Metric("raw_bytes", "raw Automerge sync alone (in memory): bytes to a new peer", "bytes"),
        Metric("raw_ratio", "  ÷ compressed snapshot", "x"),
        Metric("raw_time", "  time (both documents in memory, no I/O, no persist)", "s"),
        Metric(
            "edit_median", "small edit → visible + stored at Bob, index stale (median)", "s", 0.1
        ),
        Metric("edit_p95", "small edit → visible + stored at Bob, index stale (p95)", "s", 0.1),
        Metric("edit_persist_median", "  of which Bob's host.persist (median)", "s"),
        Metric(
            "fresh_median", "small edit → visible + stored at Bob, index fresh (median)", "s", 0.1
        ),
        Metric("fresh_p95", "small edit → visible + stored at Bob, index fresh (p95)", "s", 0.1),
        Metric("fresh_persist_median", "  of which Bob's host.persist (median)", "s"),
        Metric("net_edit_median", "  net.edit on Alice, fsync included (median, both)", "s"),
        Metric("proc_star_time", f"{peers} peers converge, star, a process each (median)", "s"),
        Metric("proc_chain_time", f"{peers} peers converge, chain, a process each (median)", "s"),
        Metric("star_time", f"{peers} peers converge, star, all on one loop (median)", "s"),
        Metric("star_persist", "  of which host.persist, all peers (serialised)", "s"),
        Metric("chain_time", f"{peers} peers converge, chain, all on one loop (median)", "s"),
        Metric("chain_persist", "  of which host.persist, all peers (serialised)", "s"),
        Metric("rss_receive", "memory: peak RSS while a new peer receives (Alice + Bob)", "kib"),
        Metric("rss_peer", f"memory: peak RSS of one converging peer (of {peers})", "kib"),
        Metric("rss_peak", "memory: peak RSS of the bench process", "kib"),
    )


# -- helpers ---------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Memory:
    """Peak RSS per phase: Linux lets a process reset its high-water mark (clear_refs 5)."""

    def __init__(self) -> None:
        self.overall = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        self.phases: dict[str, list[dict[str, int | None]]] = {}

    def _peak(self) -> int:
        return _status_kib("VmHWM") or int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    async def measure(self, name: str, work: Awaitable[T]) -> T:
        gc.collect()
        self.overall = max(self.overall, self._peak())
        before = _status_kib("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            reset = True
        except OSError:
            reset = False
        try:
            return await work
        finally:
            peak = self._peak()
            self.overall = max(self.overall, peak)
            self.phases.setdefault(name, []).append(
                {
                    "rss_before": before,
                    "peak": peak if reset else None,
                    "rss_after": _status_kib("VmRSS"),
                }
            )

    def peak(self, name: str) -> int | None:
        peaks = [p["peak"] for p in self.phases.get(name, []) if p["peak"] is not None]
        return max(peaks) if peaks else None

    def first_before(self, name: str) -> int | None:
        runs = self.phases.get(name, [])
        return runs[0]["rss_before"] if runs else None


async def deferred(fn: Callable[[], T]) -> T:
    """Run ``fn`` when awaited (``Memory.measure`` takes an awaitable)."""
    return fn()


def heads_of(doc: am.Document) -> frozenset[bytes]:
    return frozenset(doc.get_heads())


def count_contacts(doc: am.Document) -> int:
    return len(doc.keys(crdt.top(doc, "contacts")))


def forget_index(net: Network) -> None:
    """Bench workaround: ``SearchIndex._by_profile`` keeps every profile alive (its values point
    at their keys), with its documents; drop the entry so a finished run frees its memory."""
    index = SearchIndex._by_profile.pop(net.profile, None)
    if index is not None:
        index.close()


class TimedHost(ProfileHost):
    """The profile's ``DocumentHost``, timing each ``persist`` (what storing a peer's changes
    costs: ``Network.store_remote_changes``, i.e. diff, commit with fsync, index upkeep)."""

    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self.persist_seconds: list[float] = []

    def persist(self, origin: str) -> None:
        t0 = time.perf_counter()
        try:
            super().persist(origin)
        finally:
            self.persist_seconds.append(time.perf_counter() - t0)


@dataclass(eq=False)
class Peer:
    """One device: a profile, its identity and trust store, and its engine (not started)."""

    name: str
    net: Network
    host: TimedHost
    identity: Identity
    trust: TrustStore
    engine: SyncEngine
    watchers: list[Callable[[EngineEvent], None]] = field(default_factory=list)
    events: list[tuple[str, float]] = field(default_factory=list)

    @property
    def fp(self) -> bytes:
        return self.identity.fingerprint

    def doc(self) -> am.Document:
        return self.host.document()

    def stored(self) -> frozenset[bytes]:
        """The heads durably on disk (``DocumentStore.commit`` fsyncs before it moves them)."""
        return frozenset(self.net.profile.shared.saved_heads)

    def dial(self, other: Peer) -> None:
        self.engine.connect(other.fp, LOOPBACK, other.engine.port)


def make_peer(name: str, net: Network, keys: Path) -> Peer:
    """``keys`` holds the identity and the trust store: they outlive the profile (re-used)."""
    identity = Identity.load_or_create(keys / "identity")
    trust = TrustStore(keys / "peers.json")
    host = TimedHost(net)
    with host.lock:
        host.document()  # load the document before anything is timed
    holder: list[Peer] = []

    def dispatch(event: EngineEvent) -> None:
        peer = holder[0]
        peer.events.append((type(event).__name__, time.perf_counter()))
        for watcher in list(peer.watchers):
            watcher(event)

    engine = SyncEngine(host, identity, trust, listen_host=LOOPBACK, port=0, on_event=dispatch)
    peer = Peer(name, net, host, identity, trust, engine)
    holder.append(peer)
    return peer


def pin(trusts: Sequence[tuple[str, bytes, TrustStore]]) -> None:
    """Everyone trusts everyone by fingerprint (as ``plntui peer trust`` does)."""
    for _, fp, trust in trusts:
        for name, other, _ in trusts:
            if other != fp and not trust.is_trusted(other):
                trust.trust(other, name)


def pin_peers(peers: Sequence[Peer]) -> None:
    pin([(p.name, p.fp, p.trust) for p in peers])


async def wait_for(
    peers: Sequence[Peer], condition: Callable[[], bool], timeout: float = WAIT
) -> float:
    """``perf_counter()`` at the first engine event (or 2 ms poll) after which ``condition()``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def check(_event: EngineEvent | None = None) -> None:
        if not done.done() and condition():
            done.set_result(time.perf_counter())

    for peer in peers:
        peer.watchers.append(check)
    try:
        check()
        async with asyncio.timeout(timeout):
            while not done.done():
                await asyncio.wait([done], timeout=0.002)
                check()
        return done.result()
    finally:
        for peer in peers:
            peer.watchers.remove(check)


async def stop_all(peers: Sequence[Peer]) -> None:
    await asyncio.gather(*(p.engine.stop() for p in peers), return_exceptions=True)
    for peer in peers:
        forget_index(peer.net)


# -- building profiles ---------------------------------------------------------------------------


def build_alice(home: Path, contacts: int, seed: int) -> dict[str, Any]:
    """Alice's network: ``contacts`` generated contacts, imported ``IMPORT_BATCH`` per commit."""
    gen = Generator(seed + contacts)
    t0 = time.perf_counter()
    net = Network.create(home, "Alice")
    number = 0
    while number < contacts:
        size = min(IMPORT_BATCH, contacts - number)
        drafts = [gen.contact(number + i) for i in range(size)]
        summary = net.import_contacts(drafts, f"contacts-{number // IMPORT_BATCH}.vcf")
        if summary.rejected:
            raise RuntimeError(f"generated contacts were rejected: {summary.rejected[:3]}")
        number += size
        if number % 2000 == 0 or number == contacts:
            log(f"  imported {number:,}/{contacts:,} contacts")
    doc = net.shared_doc
    saved = doc.save()
    info = {
        "build_seconds": time.perf_counter() - t0,
        "contacts": count_contacts(doc),
        "changes": len(doc.get_changes([])),
        "save_bytes": len(saved),
        "snapshot_bytes": len(zlib.compress(saved, SNAPSHOT_LEVEL)),
    }
    net.profile.shared.compact()  # a realistic starting point: snapshot on disk, empty log
    forget_index(net)
    return info


def copy_profile(template: Path, home: Path) -> Network:
    shutil.copytree(template, home, ignore=shutil.ignore_patterns("index.sqlite3*", "*.lock"))
    return Network.open(home)


def new_bob(home: Path, kind: str) -> Network:
    """``init``: what ``plntui init`` makes (genesis + this device's name in the shared
    document); ``empty``: the genesis only, the case the session's snapshot path expects."""
    if kind == "init":
        return Network.create(home, "Bob")
    return Network(Profile.create(home, "Bob"))


# -- scenario 1: a new peer receives the network -----------------------------------------------


async def receive_once(
    work: Path, template: Path, run: int, kind: str, keys: Path, *, keep_open: bool = False
) -> tuple[dict[str, Any], tuple[Peer, Peer] | None]:
    alice_net = copy_profile(template, work / f"alice-{run}")
    bob_net = new_bob(work / f"bob-{run}", kind)
    alice = make_peer("Alice", alice_net, keys / "alice")
    bob = make_peer("Bob", bob_net, keys / "bob")
    first_contact = alice.trust.get(bob.fp) is None or bob.trust.get(alice.fp) is None
    pin_peers([alice, bob])
    alice_doc, bob_doc = alice.doc(), bob.doc()
    target = heads_of(alice_doc)
    bob_heads_before = heads_of(bob_doc)
    saved = alice_doc.save()
    snapshot = len(zlib.compress(saved, SNAPSHOT_LEVEL))
    await alice.engine.start()
    await bob.engine.start()
    before = {s.fingerprint: s for s in bob.engine.status()}[alice.fp]
    gc.collect()
    gc.disable()  # a collection in the middle would be noise, not sync
    try:
        t0 = time.perf_counter()
        bob.dial(alice)
        # Bob holds Alice's heads (his own change, if any, is concurrent: both stay heads),
        # and everything he holds is on disk
        t1 = await wait_for(
            [bob], lambda: target <= heads_of(bob_doc) and bob.stored() == heads_of(bob_doc)
        )
        link = bob.engine._links.get(alice.fp)  # bench-only peek: TLS bytes, bytes per kind
        stats = link.session.stats if link is not None else None
        raw_in = link.channel.raw_in if link is not None else None
        after = {s.fingerprint: s for s in bob.engine.status()}[alice.fp]
        # both sides equal and stored (Alice also stores Bob's own change, if he had one)
        t2 = await wait_for(
            [alice, bob],
            lambda: (
                heads_of(alice_doc) == heads_of(bob_doc)
                and alice.stored() == bob.stored() == heads_of(bob_doc)
            ),
        )
    finally:
        gc.enable()
    result: dict[str, Any] = {
        "kind": kind,
        "first_contact": first_contact,
        "seconds": t1 - t0,
        "seconds_both_equal_and_stored": t2 - t0,
        "bob_persist_seconds": list(bob.host.persist_seconds),
        "alice_persist_seconds": list(alice.host.persist_seconds),
        "bytes_in": after.bytes_in - before.bytes_in,
        "bytes_out": after.bytes_out - before.bytes_out,
        "tls_bytes_in": raw_in,
        "bytes_in_by_kind": dict(stats.bytes_in_by_kind) if stats else None,
        "frames_in_by_kind": dict(stats.frames_in_by_kind) if stats else None,
        "changes_in": after.changes_in - before.changes_in,
        "snapshot_bytes": snapshot,
        "save_bytes": len(saved),
        "bob_started_empty": bob_heads_before <= frozenset(ProfileHost.genesis_heads),
        "bob_events": [(name, round(t - t0, 6)) for name, t in bob.events],
        "alice_events": [(name, round(t - t0, 6)) for name, t in alice.events],
    }
    result["ratio"] = result["bytes_in"] / snapshot
    result["tls_ratio"] = raw_in / snapshot if raw_in is not None else None
    if keep_open:
        return result, (alice, bob)
    await stop_all([alice, bob])
    # what is on disk, read back as a new process would
    reopened = Network.open(bob_net.profile.home)
    result["bob_on_disk_contacts"] = count_contacts(reopened.shared_doc)
    result["bob_on_disk_has_alice"] = target <= heads_of(reopened.shared_doc)
    return result, None


def raw_sync(alice_doc: am.Document) -> dict[str, Any]:
    """What Automerge's sync protocol alone sends a new peer (genesis only), in memory."""
    a = alice_doc.fork()
    b = am.Document.load(crdt.GENESIS)
    sa, sb = am.SyncState(), am.SyncState()
    to_new = to_old = messages = 0
    t0 = time.perf_counter()
    for _ in range(10_000):
        moved = False
        message = a.generate_sync_message(sa)
        if message is not None:
            data = message.encode()
            to_new += len(data)
            messages += 1
            b.receive_sync_message(sb, am.Message.decode(data))
            moved = True
        message = b.generate_sync_message(sb)
        if message is not None:
            data = message.encode()
            to_old += len(data)
            messages += 1
            a.receive_sync_message(sa, am.Message.decode(data))
            moved = True
        if not moved:
            break
    seconds = time.perf_counter() - t0
    if heads_of(a) != heads_of(b):
        raise RuntimeError("raw Automerge sync did not converge")
    return {"bytes_to_new": to_new, "bytes_back": to_old, "messages": messages, "seconds": seconds}


# -- scenario 2: a small edit reaches a connected peer ------------------------------------------


async def live_edits(alice: Peer, bob: Peer, edits: int, seed: int) -> dict[str, Any]:
    alice_doc, bob_doc = alice.doc(), bob.doc()
    rng = random.Random(seed)  # noqa: S311 (test data)
    ids = sorted(alice_doc.keys(crdt.top(alice_doc, "contacts")))
    out: dict[str, list[float]] = {"total": [], "push": [], "net_edit": [], "bob_persist": []}

    def role_at_bob(item_id: str) -> object:
        with bob.host.lock:
            obj = crdt.item_obj(bob_doc, "contacts", item_id)
            found = bob_doc.get(obj, "role") if obj is not None else None
        if found is None or isinstance(found[0], am.ObjType):
            return None
        return found[0][1]

    for i in range(edits):
        item_id = rng.choice(ids)
        role = f"Bench role {i} {rng.randrange(10**6)}"
        gc.collect()
        persisted = len(bob.host.persist_seconds)
        t0 = time.perf_counter()
        with alice.host.lock:
            alice.net.edit("contacts", item_id, {"role": role})
        t1 = time.perf_counter()
        alice.engine.local_change()
        t2 = await wait_for(
            [bob],
            lambda item_id=item_id, role=role: (  # type: ignore[misc]
                role_at_bob(item_id) == role and bob.stored() == heads_of(bob_doc)
            ),
            10.0,
        )
        out["total"].append(t2 - t0)
        out["push"].append(t2 - t1)
        out["net_edit"].append(t1 - t0)
        out["bob_persist"].append(sum(bob.host.persist_seconds[persisted:]))
        # let the acknowledgements settle before the next edit
        await wait_for([alice, bob], lambda: heads_of(alice_doc) == heads_of(bob_doc), 10.0)
        await asyncio.sleep(0.01)
    return out


# -- scenario 3: ten peers converge -------------------------------------------------------------


def small_peer(home: Path, i: int, seed: int) -> Network:
    """A small profile with offline work: 20 imported contacts, 3 edits and a note, 5 commits."""
    gen = Generator(seed * 1000 + i)
    net = Network.create(home, f"Peer {i}")
    summary = net.import_contacts([gen.contact(n) for n in range(20)], f"peer-{i}.vcf")
    for j, record in enumerate(summary.added[:3]):
        net.edit("contacts", record.id, {"role": f"Role set offline by peer {i} ({j})"})
    net.add("notes", {"title": f"Notes of peer {i}", "body": f"# Peer {i}\n\nOffline note.\n"})
    return net


def dial_plan(peers: int, topology: str) -> list[tuple[int, int]]:
    """(who dials, whom): star: everyone dials peer 0; chain: peer i dials peer i-1."""
    return [(i, 0 if topology == "star" else i - 1) for i in range(1, peers)]


async def converge_once(
    work: Path, run: int, peers: int, topology: str, seed: int
) -> dict[str, Any]:
    """All peers in this process, on this loop."""
    root = work / f"loop-{topology}-{run}"
    nodes = [
        make_peer(f"Peer {i}", small_peer(root / f"peer-{i}", i, seed + run), root / f"keys-{i}")
        for i in range(peers)
    ]
    pin_peers(nodes)
    docs = [n.doc() for n in nodes]
    union: set[bytes] = set()
    for doc in docs:
        union |= {c.hash for c in doc.get_changes([])}
    for node in nodes:
        await node.engine.start()

    def converged() -> bool:
        first = heads_of(docs[0])
        return all(heads_of(d) == first for d in docs) and all(n.stored() == first for n in nodes)

    gc.collect()
    t0 = time.perf_counter()
    for who, whom in dial_plan(peers, topology):
        nodes[who].dial(nodes[whom])
    t1 = await wait_for(nodes, converged)
    result = {
        "topology": topology,
        "peers": peers,
        "seconds": t1 - t0,
        "persist_seconds": sum(sum(n.host.persist_seconds) for n in nodes),
        "persist_calls": sum(len(n.host.persist_seconds) for n in nodes),
        "changes": len(docs[0].get_changes([])),
        "all_changes_present": union <= {c.hash for c in docs[0].get_changes([])},
    }
    await stop_all(nodes)
    return result


async def _read_json(stream: asyncio.StreamReader, timeout: float = WAIT) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), timeout)
    if not line:
        raise RuntimeError("a peer process ended early (see its standard error above)")
    return dict(json.loads(line))


async def converge_processes(
    work: Path, run: int, peers: int, topology: str, seed: int
) -> dict[str, Any]:
    """One process per peer (``--child-home``), all dialling at once; the clock is
    CLOCK_MONOTONIC (``perf_counter``), the same in every process on Linux."""
    root = work / f"proc-{topology}-{run}"
    homes, keys, trusts = [], [], []
    merged: am.Document | None = None
    for i in range(peers):
        home, key = root / f"peer-{i}", root / f"keys-{i}"
        net = small_peer(home, i, seed + run)
        doc = net.shared_doc
        merged = doc.fork() if merged is None else merged
        merged.merge(doc)
        forget_index(net)
        identity = Identity.load_or_create(key / "identity")
        trusts.append((f"Peer {i}", identity.fingerprint, TrustStore(key / "peers.json")))
        homes.append(home)
        keys.append(key)
    pin(trusts)
    assert merged is not None
    expected = sorted(h.hex() for h in merged.get_heads())
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--child-home",
            str(home),
            "--child-keys",
            str(key),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        for home, key in zip(homes, keys, strict=True)
    ]
    try:
        ready = [await _read_json(p.stdout) for p in procs if p.stdout is not None]
        orders: list[list[tuple[str, int]]] = [[] for _ in range(peers)]
        for who, whom in dial_plan(peers, topology):
            orders[who].append((trusts[whom][1].hex(), int(ready[whom]["port"])))
        messages = [
            (json.dumps({"dial": order, "expected": expected}) + "\n").encode() for order in orders
        ]
        t0 = time.perf_counter()
        for proc, message in zip(procs, messages, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(message)
        for proc in procs:
            assert proc.stdin is not None
            await proc.stdin.drain()
        done = [await _read_json(p.stdout) for p in procs if p.stdout is not None]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    if any(codes):
        raise RuntimeError(f"a peer process failed: exit codes {codes}")
    return {
        "topology": topology,
        "peers": peers,
        "seconds": max(d["done"] for d in done) - t0,
        "per_peer_seconds": [d["done"] - t0 for d in done],
        "persist_seconds": sum(d["persist"] for d in done),
        "peak_rss_kib": [d["peak_rss_kib"] for d in done],
        "changes": len(merged.get_changes([])),
    }


async def child(home: Path, keys: Path) -> int:
    """A peer process: listen, say the port, dial what it is told, say when it converged."""
    net = Network.open(home)
    peer = make_peer(net.profile.meta.name, net, keys)
    doc = peer.doc()
    await peer.engine.start()
    print(json.dumps({"port": peer.engine.port}), flush=True)
    order = json.loads(await asyncio.to_thread(sys.stdin.readline))
    expected = frozenset(bytes.fromhex(h) for h in order["expected"])
    for fp, port in order["dial"]:
        peer.engine.connect(bytes.fromhex(fp), LOOPBACK, int(port))
    done = await wait_for([peer], lambda: heads_of(doc) == expected == peer.stored())
    report = {
        "done": done,
        "persist": sum(peer.host.persist_seconds),
        "peak_rss_kib": _status_kib("VmHWM"),
    }
    print(json.dumps(report), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # stay up for the others until told to stop
    await peer.engine.stop()
    return 0


# -- the table -----------------------------------------------------------------------------------


def verdict(metric: Metric, value: float | None) -> str:
    if metric.target is None:
        return ""
    if value is None:
        return "—"
    ok = value <= metric.target if metric.op == "<=" else value < metric.target
    return "PASS" if ok else "FAIL"


def render(rows: Sequence[Metric], results: dict[str, float | None], notes: Sequence[str]) -> str:
    header = ["metric", "value", "target", "PASS/FAIL"]
    table: list[list[str]] = []
    for metric in rows:
        value = results.get(metric.key)
        target = "" if metric.target is None else f"{metric.op} {fmt(metric.target, metric.unit)}"
        table.append([metric.label, fmt(value, metric.unit), target, verdict(metric, value)])
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in table)]
    return "\n".join([*out, "", *notes])


# -- main ------------------------------------------------------------------------------------------


async def run(
    work: Path, contacts: int, peers: int, reps: Reps, seed: int
) -> tuple[dict[str, float | None], dict[str, Any]]:
    results: dict[str, float | None] = {}
    details: dict[str, Any] = {}
    memory = Memory()
    template = work / "alice-template"
    log(f"building Alice's network: {contacts:,} contacts, {IMPORT_BATCH} per import")
    details["alice"] = build_alice(template, contacts, seed)
    results["snapshot"] = details["alice"]["snapshot_bytes"]

    # 1. a new peer receives the network: the first run is the first contact (certificates
    # learned on the way), then the certificates are known (same identities, new profiles)
    keys = work / "keys"
    receive: list[dict[str, Any]] = []
    plan = [("init", False)] + [("empty", False)] * reps.receive + [("init", False)] * reps.receive
    plan[-1] = ("init", True)  # the last pair stays connected for the small edits
    pair: tuple[Peer, Peer] | None = None
    for number, (kind, keep) in enumerate(plan):
        log(f"new peer ({kind}) receives the network, run {number + 1}/{len(plan)}")
        result, kept = await memory.measure(
            "receive", receive_once(work, template, number, kind, keys, keep_open=keep)
        )
        log(
            f"  {result['seconds']:.3f} s, {result['bytes_in']:,} bytes "
            f"({result['ratio']:.2f}x the snapshot), first contact: {result['first_contact']}"
        )
        receive.append(result)
        pair = kept or pair
    details["receive"] = receive
    for kind in ("init", "empty"):
        known = [r for r in receive if r["kind"] == kind and not r["first_contact"]]
        results[f"{kind}_time"] = median([r["seconds"] for r in known])
        results[f"{kind}_persist"] = median([sum(r["bob_persist_seconds"]) for r in known])
        results[f"{kind}_bytes"] = median([r["bytes_in"] for r in known])
        results[f"{kind}_ratio"] = median([r["ratio"] for r in known])
        tls = [r["tls_ratio"] for r in known if r["tls_ratio"] is not None]
        results[f"{kind}_tls_ratio"] = median(tls)
    firsts = [r["seconds"] for r in receive if r["first_contact"]]
    results["init_time_first"] = firsts[0] if firsts else None

    # 2. small edits on the connected pair (10,000 contacts each)
    assert pair is not None
    alice, bob = pair
    log(f"small edits: {reps.edits} edits on Alice, each awaited at Bob (his index stale)")
    edits = await live_edits(alice, bob, reps.edits, seed)
    log("Bob searches once: his search index is fresh from now on, as in the app")
    with bob.host.lock:
        bob.net.index()
    log(f"small edits: {reps.edits} edits on Alice, each awaited at Bob (his index fresh)")
    fresh = await live_edits(alice, bob, reps.edits, seed + 1)
    await stop_all([alice, bob])
    details["edits_index_stale"] = edits
    details["edits_index_fresh"] = fresh
    for prefix, series in (("edit", edits), ("fresh", fresh)):
        results[f"{prefix}_median"] = median(series["total"])
        results[f"{prefix}_p95"] = p95(series["total"])
        results[f"{prefix}_persist_median"] = median(series["bob_persist"])
    results["net_edit_median"] = median(edits["net_edit"] + fresh["net_edit"])
    del pair, alice, bob

    # raw Automerge sync, for comparison (after the timed runs: its two documents would
    # otherwise sit in the memory figures)
    log("raw Automerge sync in memory (for comparison)")
    raw = await memory.measure(
        "raw_sync", deferred(lambda: raw_sync(Network.open(template).shared_doc))
    )
    details["raw_sync"] = raw
    results["raw_bytes"] = raw["bytes_to_new"]
    results["raw_ratio"] = raw["bytes_to_new"] / details["alice"]["snapshot_bytes"]
    results["raw_time"] = raw["seconds"]

    # 3. peers converge: in processes (what ten devices do), then all on this loop
    converge: list[dict[str, Any]] = []
    for way, fn in (("proc", converge_processes), ("loop", converge_once)):
        for topology in ("star", "chain"):
            times = []
            for number in range(reps.converge):
                log(f"{peers} peers converge ({topology}, {way}), run {number + 1}/{reps.converge}")
                result = await memory.measure(
                    "converge_loop" if way == "loop" else "converge_parent",
                    fn(work, number, peers, topology, seed),
                )
                result["way"] = way
                log(f"  {result['seconds']:.3f} s, {result['changes']} changes")
                if not result.get("all_changes_present", True):
                    raise RuntimeError("the peers converged without every offline change")
                converge.append(result)
                times.append(result["seconds"])
            prefix = "proc_" if way == "proc" else ""
            results[f"{prefix}{topology}_time"] = median(times)
            if way == "loop":
                results[f"{topology}_persist"] = median(
                    [r["persist_seconds"] for r in converge if r["way"] == way]
                )
    details["converge"] = converge
    per_peer = [kib for r in converge if r["way"] == "proc" for kib in r["peak_rss_kib"] if kib]
    results["rss_peer"] = max(per_peer) if per_peer else None
    results["rss_receive"] = memory.peak("receive")
    results["rss_peak"] = memory.overall
    details["rss_before_first_receive_kib"] = memory.first_before("receive")
    details["memory_kib"] = memory.phases
    return results, details


def index_keeps_profiles(work: Path) -> bool:
    """Whether ``SearchIndex.for_profile`` keeps a profile (and its documents) alive for good."""
    net = Network.create(work / "leak-check", "Leak")
    SearchIndex.for_profile(net.profile)
    ref = weakref.ref(net.profile)
    del net
    gc.collect()
    kept = ref() is not None
    if kept:
        SearchIndex._by_profile.pop(ref(), None)  # type: ignore[arg-type]
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plntui sync benchmark (TLS over loopback)")
    parser.add_argument("--contacts", type=int, default=None, help="Alice's contacts (10000)")
    parser.add_argument("--peers", type=int, default=None, help="peers that converge (10)")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 contacts, 4 peers, few repetitions"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    parser.add_argument("--keep", action="store_true", help="keep the generated profiles")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/sync-<date>.json)",
    )
    parser.add_argument("--child-home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-keys", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_home is not None:
        return asyncio.run(child(args.child_home, args.child_keys))
    contacts = args.contacts or (1_000 if args.quick else 10_000)
    peers = args.peers or (4 if args.quick else 10)
    if contacts < 1 or peers < 2:
        parser.error("--contacts must be at least 1 and --peers at least 2")
    reps = QUICK if args.quick else Reps()
    started = time.perf_counter()
    now = _dt.datetime.now()
    load_start = os.getloadavg()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="plntui-sync-bench-"))
    try:
        results, details = asyncio.run(run(work, contacts, peers, reps, args.seed))
        details["search_index_keeps_profiles_alive"] = index_keeps_profiles(work)
    finally:
        if args.keep:
            log(f"profiles kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rows = metrics(contacts, peers)
    title = (
        f"plntui sync benchmark, {now:%Y-%m-%d %H:%M}, plntui {info['plntui']}\n"
        f"{info['cpus']} CPUs, Python {info['python']}, automerge {info['automerge']}"
        f"{', --quick' if args.quick else ''}; real TLS 1.3 over {LOOPBACK}"
    )
    first = next(r for r in details["receive"] if r["first_contact"])
    inits = {r["bob_started_empty"] for r in details["receive"] if r["kind"] == "init"}
    init_state = (
        "as the bare genesis (snapshot path)"
        if inits == {True}
        else "with its device name written (not empty: raw Automerge sync)"
        if inits == {False}
        else "sometimes empty, sometimes not (the code changed during the run?)"
    )
    notes = [
        f"new peer: Alice and Bob in this process, on one asyncio loop. Bob dials Alice "
        f"({contacts:,} contacts, {details['alice']['changes']:,} changes), timed until Bob "
        "holds all of Alice's changes and they are on his disk (fsynced). Median of "
        f"{reps.receive}; the first contact is 1 run (Bob started "
        f"{'empty' if first['bob_started_empty'] else 'non-empty'}).",
        "plntui init: the profile `plntui init` makes (Network.create), which started "
        f"{init_state}; genesis only: a profile with no change at all (Profile.create).",
        "memory: the process held "
        f"{fmt(details['rss_before_first_receive_kib'], 'kib')} before the first new peer "
        "(interpreter, modules, memory the allocator kept from building Alice's network).",
        f"small edit: {reps.edits} edits of a random contact's role on Alice, each awaited at "
        "Bob (the value in Bob's document and Bob's heads on disk); index stale: Bob never "
        "searched (plntui sync); index fresh: Bob searched once before (the app).",
        f"converge: {peers} small profiles (20 contacts, 3 edits, 1 note each, made offline), "
        "first contact (certificates learned on the way); star: all dial peer 0; chain: peer i "
        "dials peer i-1; timed until every peer holds every change on disk. A process each: "
        f"{peers} processes on {info['cpus']} CPUs; one loop: all in this process, so their "
        f"work is serialised. Median of {reps.converge}.",
        f"total bench time {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end.",
    ]
    table = render(rows, results, notes)
    sys.stdout.write(title + "\n\n" + table + "\n")
    suffix = "-quick" if args.quick else ""
    out = args.out or BENCH / "results" / f"sync-{now:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "quick": args.quick,
        "contacts": contacts,
        "peers": peers,
        "reps": {k: getattr(reps, k) for k in Reps.__slots__},
        "targets": {m.key: [m.op, m.target] for m in rows if m.target is not None},
        "results": results,
        "details": details,
        "table": table,
    }
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {out}")
    failed = [m.key for m in rows if verdict(m, results.get(m.key)) == "FAIL"]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
