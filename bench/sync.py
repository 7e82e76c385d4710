"""Provides the sync benchmark: a new peer receiving a large network, live edits, ten peers.

Usage: ``python bench/sync.py [--contacts 10000] [--peers 10] [--runs 3] [--quick]
[--profiles DIR] [--relay] [--keep] [--strict] [--out FILE]``. Real TLS 1.3 over 127.0.0.1, no
LAN discovery (zeroconf is never started): peers dial each other's loopback port. ``--relay``
runs the new peer and the small edits a second time through a Magic Wormhole transit relay on
127.0.0.1 (``twistd transitrelay`` from the test extra, ``tests/transit_relay.py``), with no
address known: the peers meet only there, and compares with the direct figures. Prints one table
(figure, target, measured, before, result); progress goes to standard error; every figure is
also written as JSON to ``bench/results/sync-<date>.json``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import gc
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not this file.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

import automerge.core as am  # noqa: E402
from _profiles import Generator  # noqa: E402
from core import (  # noqa: E402
    PYCACHE,
    TIME,
    child_env,
    copy_profile,
    ensure_profile,
    fmt,
    log,
    machine,
    run_process,
    status_kib_of,
    table,
)

from plntui import crdt, layout  # noqa: E402
from plntui.model import FIELDS  # noqa: E402
from plntui.network import Network  # noqa: E402
from plntui.peersync import SyncRunner, load_identity, open_trust  # noqa: E402
from plntui.storage import Storage, digest_of  # noqa: E402

LOOPBACK = "127.0.0.1"
SEARCH_TERM = "kubernetes"
WAIT = 600.0  # seconds before a scenario is declared stuck
MIB = 1024  # KiB
W10, W100 = 10_000, 100_000


@dataclass(frozen=True, slots=True)
class Reps:
    """How many times each scenario runs."""

    receive: int = 3  # new peers, certificates known
    edits: int = 30
    converge: int = 3  # per topology and per way of running the peers


QUICK = Reps(receive=1, edits=10, converge=1)


@dataclass(frozen=True, slots=True)
class Metric:
    """One row: targets by network size (contacts), the figures before the repository of
    documents (bench/README.md), and how the value must compare with the target."""

    key: str
    label: str
    unit: str  # "s", "bytes", "kib", "x", "n"
    targets: dict[int, float] = field(default_factory=dict)
    before: dict[int, float | str] = field(default_factory=dict)
    op: str = "<"


def metrics(peers: int) -> tuple[Metric, ...]:
    return (
        Metric("documents", "Alice's network: documents she shares with Bob", "n"),
        Metric("stored_bytes", "  their stored bytes (snapshots + changes)", "bytes"),
        Metric("stored_zlib", "  zlib of all of them at once", "bytes"),
        Metric(
            "one_snapshot",
            "one document holding everything: zlib(save())",
            "bytes",
            {},
            {W10: "1.2 MiB"},
        ),
        Metric(
            "receive_time",
            "new peer, end to end: plntui sync --once (median)",
            "s",
            {W10: 1.5, W100: 15.0},
            {W10: "4-6 s"},
        ),
        Metric(
            "receive_rss",
            "  its peak RSS, checking workers included (summed)",
            "kib",
            {W10: 200 * MIB, W100: 500 * MIB},
            {W10: "837 MiB"},
        ),
        Metric("receive_rss_main", "    the plntui process alone (GNU time)", "kib"),
        Metric("receive_first", "  first contact (learns the certificate), one run", "s"),
        Metric("alice_rss", "  Alice's peak RSS while serving (plntui sync)", "kib"),
        Metric("receive_bytes", "  bytes Bob received (sync frames)", "bytes"),
        Metric(
            "receive_ratio",
            "  ÷ one document holding everything (zlib)",
            "x",
            {W10: 1.5},
            {W10: "1.0x"},
            "<=",
        ),
        Metric("receive_ratio_stored", "  ÷ zlib of the stored documents", "x"),
        Metric(
            "first_search",
            "new peer's first plntui search (process)",
            "s",
            {W10: 0.3, W100: 0.3},
            {W10: 2.7},
        ),
        Metric(
            "edit_median",
            "small edit → stored + indexed at a linked peer (median)",
            "s",
            {W10: 0.05},
            {W10: 0.072},
        ),
        Metric(
            "edit_p95",
            "small edit → stored + indexed at a linked peer (p95)",
            "s",
            {},
            {W10: 0.082},
        ),
        Metric("edit_store_median", "  of which Bob's receive_sync (median)", "s"),
        Metric("net_edit_median", "  net.edit on Alice, fsync included (median)", "s"),
        Metric("relay_receive_time", "through the relay: new peer, end to end (median)", "s"),
        Metric(
            "relay_receive_ratio",
            "  ÷ the same direct (target: under 1.5x)",
            "x",
            {W10: 1.5, W100: 1.5},
        ),
        Metric("relay_edit_median", "through the relay: small edit at the peer (median)", "s"),
        Metric(
            "relay_edit_extra",
            "  minus the same direct (target: under 50 ms more)",
            "s",
            {W10: 0.05, W100: 0.05},
        ),
        Metric(
            "proc_star_time",
            f"{peers} peers converge, star, a process each (median)",
            "s",
            {},
            {W10: 0.232},
        ),
        Metric(
            "proc_chain_time",
            f"{peers} peers converge, chain, a process each (median)",
            "s",
            {},
            {W10: 0.240},
        ),
        Metric(
            "star_time",
            f"{peers} peers converge, star, all on one loop (median)",
            "s",
            {},
            {W10: 0.331},
        ),
        Metric(
            "chain_time",
            f"{peers} peers converge, chain, all on one loop (median)",
            "s",
            {},
            {W10: 0.345},
        ),
        Metric(
            "rss_peer",
            f"memory: peak RSS of one converging peer (of {peers})",
            "kib",
            {},
            {W10: "50 MiB"},
        ),
    )


# -- helpers ---------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def pair(a: Path, b: Path, *, certs: bool = True) -> tuple[bytes, bytes]:
    """Both profiles trust each other's fingerprint (and know the certificate unless
    ``certs`` is false, as after pairing by code). Returns their fingerprints."""
    ida, idb = load_identity(a), load_identity(b)
    for home, other, name in ((a, idb, "Bob"), (b, ida, "Alice")):
        trust = open_trust(home)
        trust.trust(other.fingerprint, name)
        if certs:
            trust.learn_cert(other.fingerprint, other.cert_der)
    return ida.fingerprint, idb.fingerprint


def meet_at_relay(a: Path, b: Path, relay: Any) -> None:
    """Both profiles use ``relay`` and share a pair secret (as pairing by code leaves them)."""
    from plntui.relay_config import set_profile_relay

    ida, idb = load_identity(a), load_identity(b)
    secret = os.urandom(32)
    for home, other in ((a, idb), (b, ida)):
        set_profile_relay(home, relay)
        open_trust(home).set_relay_secret(other.fingerprint, secret)


def manifest(home: Path, circle: str) -> dict[str, str]:
    storage = Storage(home / "repo.sqlite3")
    try:
        return storage.manifest([circle])
    finally:
        storage.close()


# -- the network as one document ---------------------------------------------------------------


def network_sizes(home: Path, circle: str) -> dict[str, Any]:
    """What Alice shares, stored and compressed; and the same network as one Automerge
    document (every contact and note of the circle written into one document, 500 items per
    change, as the one-document design stored it), saved and compressed: the "one compressed
    snapshot of everything" the design compares sync bytes with."""
    storage = Storage(home / "repo.sqlite3")
    try:
        ids = sorted(storage.manifest([circle]))
        stored = [storage.load(d) for d in ids]
    finally:
        storage.close()
    blob = b"".join(s.data for s in stored if s is not None)
    by_kind: dict[str, list[int]] = {}
    for s in stored:
        if s is not None:
            by_kind.setdefault(s.kind, []).append(len(s.data))
    t0 = time.perf_counter()
    one = am.Document(b"\x01" * 16)
    with one.transaction() as tx:
        for name in ("contacts", "interactions", "redirects", "notes", "members", "devices"):
            tx.put_object(am.ROOT, name, am.ObjType.Map)
    items: list[tuple[str, str, dict[str, Any]]] = []
    for s in stored:
        if s is None or s.kind == "circle":
            continue
        doc = am.Document.load(s.data)
        for collection in ("contacts", "interactions") if s.kind == "shard" else ("notes",):
            for item_id, values in crdt.read_collection(doc, collection).items():
                items.append((collection, item_id, values))
    for start in range(0, len(items), 500):
        with one.transaction() as tx:
            for collection, item_id, values in items[start : start + 500]:
                obj = crdt.ensure_item(tx, collection, item_id)
                known = FIELDS[collection]  # type: ignore[index]
                kept = {k: v for k, v in values.items() if k in known}
                crdt.write_fields(tx, collection, obj, kept)  # type: ignore[arg-type]
    circle_doc = next((s.data for s in stored if s is not None and s.kind == "circle"), b"")
    saved = one.save()
    return {
        "documents": len(ids),
        "stored_bytes": len(blob),
        "stored_zlib": len(zlib.compress(blob, 6)),
        "one_snapshot": len(zlib.compress(saved + circle_doc, 6)),
        "one_snapshot_items": len(items),
        "one_snapshot_seconds": time.perf_counter() - t0,
        "stored_by_kind": {k: {"count": len(v), "bytes": sum(v)} for k, v in by_kind.items()},
    }


# -- scenario 1: a new peer receives the network, as processes -----------------------------------


class Serving:
    """Alice's ``plntui sync`` process, listening on 127.0.0.1 (no discovery)."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plntui",
                "--home",
                str(home),
                "sync",
                "--no-discovery",
                "--listen",
                LOOPBACK,
                "--port",
                str(self.port),
            ],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if "listening on" in line:
                return
        self.stop()
        raise RuntimeError("Alice's plntui sync did not start:\n" + "\n".join(self.lines[-20:]))

    def peak_kib(self) -> int | None:
        return status_kib_of(self.proc.pid, "VmHWM")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.lines += [line.rstrip() for line in self.proc.stdout.read().splitlines()]


def receive_once(
    template: Path, work: Path, run: int, circle: str, *, certs: bool, relay: Any = None
) -> dict[str, Any]:
    """A new colleague: ``plntui init``, trusted both ways, added to Alice's circle; then
    ``plntui sync --once`` (a whole process, timed) until it holds Alice's network. With
    ``relay``, Bob knows no address of Alice's: the two meet at the relay."""
    alice_home = copy_profile(template, work / f"alice-{run}")
    bob_home = work / f"bob-{run}"
    shutil.rmtree(bob_home, ignore_errors=True)
    run_process([sys.executable, "-m", "plntui", "--home", str(bob_home), "init", "--name", "Bob"])
    alice_fp, bob_fp = pair(alice_home, bob_home, certs=certs)
    if relay is not None:
        meet_at_relay(alice_home, bob_home, relay)
    net = Network.open(alice_home)
    net.add_member(circle, bob_fp, "Bob")
    net.profile.close()
    del net
    serving = Serving(alice_home)
    try:
        if relay is None:
            open_trust(bob_home).add_address(alice_fp, f"{LOOPBACK}:{serving.port}")
        gc.collect()
        bob = run_process(
            [
                sys.executable,
                "-m",
                "plntui",
                "--home",
                str(bob_home),
                "sync",
                "--once",
                "--no-discovery",
                "--listen",
                LOOPBACK,
                "--timeout",
                str(int(WAIT)),
            ],
            timeout=WAIT + 60,
            tree=True,
        )
        alice_peak = serving.peak_kib()
    finally:
        serving.stop()
    # read after Alice's daemon stopped: with a relay it may have written the circle's secret
    expected = manifest(alice_home, circle)
    got = manifest(bob_home, circle)
    if got != expected:
        missing = len(set(expected) - set(got))
        differ = sum(1 for d in expected if d in got and got[d] != expected[d])
        raise RuntimeError(
            f"Bob does not hold Alice's network after sync --once: {missing} documents missing, "
            f"{differ} differ; its output:\n{bob.stdout[-2000:]}"
        )
    peer = open_trust(bob_home).get(alice_fp)
    assert peer is not None
    search = run_process(plntui_cmd(bob_home, "search", SEARCH_TERM))
    return {
        "run": run,
        "relay": relay is not None,
        "first_contact": not certs,
        "seconds": bob.seconds,
        "cpu": bob.cpu,
        "peak_rss_kib": bob.maxrss_kib,
        "peak_tree_kib": bob.tree_peak_kib,
        "alice_peak_rss_kib": alice_peak,
        "bytes_in": peer.bytes_in,
        "bytes_out": peer.bytes_out,
        "changes_in": peer.changes_in,
        "first_search": search.seconds,
        "first_search_rss_kib": search.maxrss_kib,
        "documents": len(got),
        "bob_home": str(bob_home),
        "alice_home": str(alice_home),
        "output": bob.stdout[-600:],
    }


def plntui_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "plntui", "--home", str(home), *args]


# -- scenario 2: small edits between two linked peers, in this process --------------------------


def quiet(_line: str) -> None:
    """SyncRunner's log: the bench shows its own progress."""


class TimedRunner(SyncRunner):
    """A ``SyncRunner`` whose host times each stored sync message (``receive_sync``)."""

    def __init__(self, net: Network) -> None:
        super().__init__(net, listen_host=LOOPBACK, port=0, discovery=False, log=quiet)
        self.store_seconds: list[float] = []
        inner = self.host.receive_sync

        def timed(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args)
            finally:
                self.store_seconds.append(time.perf_counter() - t0)

        self.host.receive_sync = timed  # type: ignore[method-assign,assignment]


async def until(
    condition: Callable[[], bool], seconds: float, what: str, poll: float = 0.001
) -> float:
    """``perf_counter()`` once ``condition()`` holds (polled every ``poll`` seconds)."""
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)
    return time.perf_counter()


def in_sync(runner: SyncRunner, fp: bytes) -> bool:
    return any(s.fingerprint == fp and s.state == "in-sync" for s in runner.engine.status())


async def live_edits(
    alice_home: Path, bob_home: Path, edits: int, seed: int, relay: Any = None
) -> dict[str, Any]:
    """Alice and Bob (who holds her network) linked on this loop; ``edits`` times Alice edits
    a random contact's role (``net.edit``: one durable write, the index kept fresh), and the
    time until Bob stored it (his digest of the document equals hers) and his search index
    shows it is taken. With ``relay`` the two meet at the relay (no address given)."""
    if relay is not None:
        meet_at_relay(alice_home, bob_home, relay)
    from plntui.index import SearchIndex

    alice, bob = Network.open(alice_home), Network.open(bob_home)
    runners = [TimedRunner(alice), TimedRunner(bob)]
    alice_fp, bob_fp = runners[0].identity.fingerprint, runners[1].identity.fingerprint
    for runner in runners:
        await runner.start()
    totals: list[float] = []
    net_edit: list[float] = []
    try:
        if relay is None:
            runners[1].engine.connect(alice_fp, LOOPBACK, runners[0].engine.port)
        else:
            assert runners[0].engine.relay == relay, "the runner did not take the relay setting"
        await until(
            lambda: in_sync(runners[0], bob_fp) and in_sync(runners[1], alice_fp),
            WAIT,
            "the link to be in sync",
            poll=0.01,
        )
        ids = [r.id for r in alice.index().list("contacts")]
        rng = random.Random(seed)  # noqa: S311
        bob_index = SearchIndex.for_profile(bob.profile)
        runners[1].store_seconds.clear()
        for n, contact_id in enumerate(rng.sample(ids, k=min(len(ids), edits))):
            role = f"Linked edit {n} {time.monotonic_ns()}"
            with alice.lock:
                doc_id = alice._where("contacts", contact_id).shared
            assert doc_id is not None
            await asyncio.sleep(0.05)  # idle link, as between two edits of a user
            t0 = time.perf_counter()
            alice.edit("contacts", contact_id, {"role": role})
            t1 = time.perf_counter()
            digest = alice.repo.digest(doc_id)

            def arrived(
                cid: str = contact_id,
                doc: str = doc_id,
                want: str | None = digest,
                value: str = role,
            ) -> bool:
                if bob.repo.storage.info([doc]).get(doc, ("",))[0] != want:
                    return False
                record = bob_index.get("contacts", cid)
                return record is not None and record.values.get("role") == value

            t2 = await until(arrived, 60, f"edit {n} to reach Bob")
            totals.append(t2 - t0)
            net_edit.append(t1 - t0)
        stored = list(runners[1].store_seconds)
    finally:
        for runner in runners:
            await runner.stop()
        alice.profile.close()
        bob.profile.close()
    return {"total": totals, "net_edit": net_edit, "bob_receive_sync": stored}


# -- scenario 3: peers that worked offline converge ------------------------------------------


class Converged:
    """Whether a profile holds ``expected`` (its circle's digests), cheaply: the manifest is
    read again only when the storage generation moved (polling must not steal the CPU the
    peers converge with)."""

    def __init__(self, net: Network, circle: str, expected: dict[str, str]) -> None:
        self.net, self.circle, self.expected = net, circle, expected
        self.generation = -1
        self.done = False

    def __call__(self) -> bool:
        if not self.done:
            generation = self.net.repo.storage.generation()
            if generation != self.generation:
                self.generation = generation
                self.done = self.net.repo.storage.manifest([self.circle]) == self.expected
        return self.done


def make_team(work: Path, peers: int, seed: int) -> tuple[Path, str, dict[str, str]]:
    """``peers`` profiles that share one circle (made by peer 0, which added the others; the
    circle document handed to each through its sync host, as a first sync would), each then
    working offline in it: 20 imported contacts, 3 edits, 1 note. Returns the folder of the
    profiles, the circle id and the digests every peer must end with."""
    from plntui.sync_host import RepoHost

    team = work / "team-template"
    shutil.rmtree(team, ignore_errors=True)
    homes = [team / f"peer-{i}" for i in range(peers)]
    nets = [Network.create(home, f"Peer {i}") for i, home in enumerate(homes)]
    ids = [load_identity(home) for home in homes]
    for home in homes:
        trust = open_trust(home)
        for i, other in enumerate(ids):
            if other.fingerprint != load_identity(home).fingerprint:
                trust.trust(other.fingerprint, f"Peer {i}")
                trust.learn_cert(other.fingerprint, other.cert_der)
    circle = nets[0].create_circle("Team").id
    for i in range(1, peers):
        nets[0].add_member(circle, ids[i].fingerprint, f"Peer {i}")
    circle_doc = layout.circle_doc(circle)
    data = nets[0].repo.stored(circle_doc)
    assert data is not None
    nets[0].set_default_circle(circle)
    for net in nets[1:]:
        host = RepoHost(net)
        try:
            host.receive_docs(ids[0].fingerprint, [(circle_doc, data.data)])
        finally:
            host.close()
        net.set_default_circle(circle)
    for i, net in enumerate(nets):
        gen = Generator(seed * 1000 + i)
        summary = net.import_contacts([gen.contact(i * 100 + n) for n in range(20)], "offline.vcf")
        added = [r.id for r in summary.added]
        for n, contact_id in enumerate(added[:3]):
            net.edit("contacts", contact_id, {"role": f"Offline edit {i}.{n}"})
        names = {r.id: r.label for r in summary.added}
        net.add("notes", gen.note(added, names))
    expected = expected_state(homes, circle)
    for net in nets:
        net.profile.close()
    return team, circle, expected


def expected_state(homes: Sequence[Path], circle: str) -> dict[str, str]:
    """Every document of the circle merged from every peer's copy: the digests all end with."""
    merged: dict[str, am.Document] = {}
    for home in homes:
        storage = Storage(home / "repo.sqlite3")
        try:
            for doc_id in storage.manifest([circle]):
                stored = storage.load(doc_id)
                assert stored is not None
                doc = am.Document.load(stored.data)
                if doc_id in merged:
                    merged[doc_id].merge(doc)
                else:
                    merged[doc_id] = doc
        finally:
            storage.close()
    return {doc_id: digest_of(doc.get_heads()) for doc_id, doc in merged.items()}


def dial_plan(peers: int, topology: str) -> list[list[int]]:
    """Who dials whom: star, every peer dials peer 0; chain, peer i dials peer i-1."""
    return [[] if i == 0 else [0 if topology == "star" else i - 1] for i in range(peers)]


async def converge_loop(
    team: Path, work: Path, run: int, circle: str, expected: dict[str, str], topology: str
) -> dict[str, Any]:
    """Every peer a SyncRunner in this process, on this loop."""
    homes = sorted(team.iterdir())
    copies = [copy_profile(h, work / f"loop-{topology}-{run}" / h.name) for h in homes]
    nets = [Network.open(home) for home in copies]
    runners = [TimedRunner(net) for net in nets]
    for runner in runners:
        await runner.start()
    try:
        t0 = time.perf_counter()
        for i, targets in enumerate(dial_plan(len(runners), topology)):
            for j in targets:
                runners[i].engine.connect(
                    runners[j].identity.fingerprint, LOOPBACK, runners[j].engine.port
                )
        checks = [Converged(net, circle, expected) for net in nets]
        done = await until(
            lambda: all(check() for check in checks), WAIT, f"{len(nets)} peers to converge", 0.005
        )
    finally:
        for runner in runners:
            await runner.stop()
        for net in nets:
            net.profile.close()
    return {"topology": topology, "way": "loop", "seconds": done - t0, "documents": len(expected)}


async def converge_processes(
    team: Path, work: Path, run: int, circle: str, expected: dict[str, str], topology: str
) -> dict[str, Any]:
    """Every peer its own process (this file's child mode), told to dial at once."""
    homes = sorted(team.iterdir())
    copies = [copy_profile(h, work / f"proc-{topology}-{run}" / h.name) for h in homes]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__)),
            "--child-home",
            str(home),
            "--child-circle",
            circle,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        for home in copies
    ]
    try:
        hello = [json.loads(await asyncio.wait_for(p.stdout.readline(), 60)) for p in procs]  # type: ignore[union-attr]
        orders = [
            {"dial": [[hello[j]["fp"], hello[j]["port"]] for j in targets], "expected": expected}
            for targets in dial_plan(len(procs), topology)
        ]
        t0 = time.perf_counter()
        for proc, order in zip(procs, orders, strict=True):
            proc.stdin.write((json.dumps(order) + "\n").encode())  # type: ignore[union-attr]
        for proc in procs:
            await proc.stdin.drain()  # type: ignore[union-attr]
        done = [json.loads(await asyncio.wait_for(p.stdout.readline(), WAIT)) for p in procs]  # type: ignore[union-attr]
        for proc in procs:
            proc.stdin.write(b"stop\n")  # type: ignore[union-attr]
            await proc.stdin.drain()  # type: ignore[union-attr]
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
        "way": "proc",
        "seconds": max(d["done"] for d in done) - t0,
        "per_peer_seconds": [d["done"] - t0 for d in done],
        "peak_rss_kib": [d["peak_rss_kib"] for d in done],
        "documents": len(expected),
    }


async def child(home: Path, circle: str) -> int:
    """A peer process: listen, say the port, dial what it is told, say when it converged."""
    net = Network.open(home)
    runner = SyncRunner(net, listen_host=LOOPBACK, port=0, discovery=False, log=quiet)
    await runner.start()
    print(
        json.dumps({"port": runner.engine.port, "fp": runner.identity.fingerprint.hex()}),
        flush=True,
    )
    order = json.loads(await asyncio.to_thread(sys.stdin.readline))
    expected = order["expected"]
    for fp, port in order["dial"]:
        runner.engine.connect(bytes.fromhex(fp), LOOPBACK, int(port))
    done = await until(Converged(net, circle, expected), WAIT, "convergence", 0.005)
    print(json.dumps({"done": done, "peak_rss_kib": status_kib_of("self", "VmHWM")}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # stay up for the others until told to stop
    await runner.stop()
    return 0


# -- the table -----------------------------------------------------------------------------------


def verdict(metric: Metric, size: int, value: float | None) -> str:
    bound = metric.targets.get(size)
    if bound is None:
        return ""
    if value is None:
        return "—"
    ok = value <= bound if metric.op == "<=" else value < bound
    return "PASS" if ok else "FAIL"


def render(
    rows: Sequence[Metric], size: int, results: dict[str, float | None], notes: Sequence[str]
) -> str:
    header = ["metric", "target", "measured", "before", "result"]
    lines = []
    for metric in rows:
        value = results.get(metric.key)
        bound = metric.targets.get(size)
        if value is None and bound is None:
            continue  # a part that was not run (--skip-edits, --peers 0)
        target = "" if bound is None else f"{metric.op} {fmt(bound, metric.unit)}"
        before = metric.before.get(size, "")
        before_text = before if isinstance(before, str) else fmt(before, metric.unit)
        lines.append(
            [
                metric.label,
                target,
                fmt(value, metric.unit),
                before_text,
                verdict(metric, size, value),
            ]
        )
    return "\n".join([*table(header, lines), "", *notes])


# -- main ------------------------------------------------------------------------------------------


def alice_circle(home: Path) -> str:
    net = Network.open(home)
    try:
        return net.default_circle().id
    finally:
        net.profile.close()


async def run(
    args: argparse.Namespace, reps: Reps, work: Path, profiles: Path
) -> tuple[dict[str, float | None], dict[str, Any]]:
    results: dict[str, float | None] = {}
    details: dict[str, Any] = {}
    contacts, peers = args.contacts, args.peers

    template = profiles / f"profile-{contacts}"
    details["alice_build"] = ensure_profile(template, contacts, args.seed)
    circle = alice_circle(template)
    log("Alice's network: sizes, and the same network as one document")
    sizes = network_sizes(template, circle)
    details["network"] = sizes
    for key in ("documents", "stored_bytes", "stored_zlib", "one_snapshot"):
        results[key] = sizes[key]

    if not args.skip_receive:
        receive: list[dict[str, Any]] = []
        plan = [False] + [True] * reps.receive  # the first run learns the certificate
        for number, certs in enumerate(plan):
            log(
                f"new peer receives the network, run {number + 1}/{len(plan)}"
                f"{'' if certs else ' (first contact: learns the certificate)'}"
            )
            result = receive_once(template, work, number, circle, certs=certs)
            log(
                f"  {result['seconds']:.3f} s, peak {fmt(result['peak_rss_kib'], 'kib')} "
                f"({fmt(result['peak_tree_kib'], 'kib')} with its workers), "
                f"{result['bytes_in']:,} bytes, first search {result['first_search']:.3f} s"
            )
            receive.append(result)
        details["receive"] = receive
        known = [r for r in receive if not r["first_contact"]]
        results["receive_time"] = median([r["seconds"] for r in known])
        rss = [r["peak_rss_kib"] for r in receive if r["peak_rss_kib"]]
        results["receive_rss_main"] = max(rss) if rss else None
        tree = [r["peak_tree_kib"] for r in receive if r["peak_tree_kib"]]
        results["receive_rss"] = max(tree) if tree else None
        results["receive_first"] = next(r["seconds"] for r in receive if r["first_contact"])
        alice = [r["alice_peak_rss_kib"] for r in receive if r["alice_peak_rss_kib"]]
        results["alice_rss"] = max(alice) if alice else None
        results["receive_bytes"] = median([r["bytes_in"] for r in known])
        if results["receive_bytes"]:
            results["receive_ratio"] = results["receive_bytes"] / sizes["one_snapshot"]
            results["receive_ratio_stored"] = results["receive_bytes"] / sizes["stored_zlib"]
        results["first_search"] = median([r["first_search"] for r in receive])

        if not args.skip_edits:
            last = known[-1]
            log(f"small edits: {reps.edits} edits on Alice, each awaited at Bob (linked, one loop)")
            edits = await live_edits(
                Path(last["alice_home"]), Path(last["bob_home"]), reps.edits, args.seed
            )
            details["edits"] = edits
            results["edit_median"] = median(edits["total"])
            results["edit_p95"] = p95(edits["total"])
            results["edit_store_median"] = median(edits["bob_receive_sync"])
            results["net_edit_median"] = median(edits["net_edit"])
        if args.relay:
            await relay_runs(args, reps, work, circle, receive, results, details)
        for r in receive:
            for key in ("alice_home", "bob_home"):
                shutil.rmtree(r[key], ignore_errors=True)

    if peers >= 2:
        log(f"{peers} peers: a shared circle, offline work in it")
        team, team_circle, expected = make_team(work, peers, args.seed)
        details["team_documents"] = len(expected)
        converge: list[dict[str, Any]] = []
        for way, fn in (("proc", converge_processes), ("loop", converge_loop)):
            for topology in ("star", "chain"):
                times = []
                for number in range(reps.converge):
                    run_no = f"run {number + 1}/{reps.converge}"
                    log(f"{peers} peers converge ({topology}, {way}), {run_no}")
                    result = await fn(team, work, number, team_circle, expected, topology)
                    log(f"  {result['seconds']:.3f} s, {result['documents']} documents")
                    converge.append(result)
                    times.append(result["seconds"])
                prefix = "proc_" if way == "proc" else ""
                results[f"{prefix}{topology}_time"] = median(times)
        details["converge"] = converge
        per_peer = [kib for r in converge if r["way"] == "proc" for kib in r["peak_rss_kib"] if kib]
        results["rss_peer"] = max(per_peer) if per_peer else None
    return results, details


async def relay_runs(
    args: argparse.Namespace,
    reps: Reps,
    work: Path,
    circle: str,
    receive: list[dict[str, Any]],
    results: dict[str, float | None],
    details: dict[str, Any],
) -> None:
    """The new peer and the small edits again, through a transit relay on 127.0.0.1."""
    sys.path.insert(0, str(ROOT / "tests"))
    from transit_relay import TransitRelay

    relay_proc = TransitRelay(work / "relay").start()
    try:
        runs: list[dict[str, Any]] = []
        profile = args_template(args, work)
        for number in range(reps.receive):
            log(f"new peer receives the network through the relay, run {number + 1}")
            result = receive_once(
                profile, work, 100 + number, circle, certs=True, relay=relay_proc.address
            )
            log(f"  {result['seconds']:.3f} s, {result['bytes_in']:,} bytes")
            runs.append(result)
        details["relay_receive"] = runs
        results["relay_receive_time"] = median([r["seconds"] for r in runs])
        direct = results.get("receive_time")
        if direct and results["relay_receive_time"] is not None:
            results["relay_receive_ratio"] = results["relay_receive_time"] / direct
        if not args.skip_edits:
            last = runs[-1]
            log(f"small edits through the relay: {reps.edits} edits on Alice")
            edits = await live_edits(
                Path(last["alice_home"]),
                Path(last["bob_home"]),
                reps.edits,
                args.seed,
                relay=relay_proc.address,
            )
            details["relay_edits"] = edits
            results["relay_edit_median"] = median(edits["total"])
            direct_edit = results.get("edit_median")
            if direct_edit is not None and results["relay_edit_median"] is not None:
                results["relay_edit_extra"] = results["relay_edit_median"] - direct_edit
        for r in runs:
            for key in ("alice_home", "bob_home"):
                shutil.rmtree(r[key], ignore_errors=True)
    finally:
        relay_proc.stop()


def args_template(args: argparse.Namespace, work: Path) -> Path:
    """Alice's profile template (as ``run`` built it)."""
    profiles = args.profiles.resolve() if args.profiles else work / "profiles"
    return profiles / f"profile-{args.contacts}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plntui sync benchmark (TLS over loopback)")
    parser.add_argument(
        "--contacts", type=int, default=None, help="Alice's contacts (10000); notes are N/5"
    )
    parser.add_argument("--peers", type=int, default=None, help="peers that converge (10; 0: skip)")
    parser.add_argument("--runs", type=int, default=None, help="new peers, certificates known (3)")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 contacts, 4 peers, one run each"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    parser.add_argument("--skip-receive", action="store_true", help="no new peer (nor edits)")
    parser.add_argument("--skip-edits", action="store_true", help="no linked small edits")
    parser.add_argument(
        "--profiles",
        type=Path,
        default=None,
        help="build Alice's profile here and reuse it (shared with core.py)",
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="also run the new peer and the edits through a transit relay on 127.0.0.1",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/sync-<date>.json)",
    )
    parser.add_argument("--child-home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-circle", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_home is not None:
        return asyncio.run(child(args.child_home, args.child_circle))
    args.contacts = args.contacts or (1_000 if args.quick else 10_000)
    args.peers = (4 if args.quick else 10) if args.peers is None else args.peers
    if args.contacts < 100 or args.peers == 1 or args.peers < 0:
        parser.error("--contacts must be at least 100 and --peers 0 or at least 2")
    reps = QUICK if args.quick else Reps()
    if args.runs is not None:
        reps = Reps(receive=max(1, args.runs), edits=reps.edits, converge=reps.converge)
    started = time.perf_counter()
    now = _dt.datetime.now()
    load_start = os.getloadavg()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="plntui-sync-bench-"))
    profiles = args.profiles.resolve() if args.profiles else work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    PYCACHE[:] = [work / "pycache"]
    try:
        results, details = asyncio.run(run(args, reps, work, profiles))
    finally:
        if args.keep:
            log(f"work folder kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rows = metrics(args.peers)
    size = args.contacts
    title = (
        f"plntui sync benchmark, {now:%Y-%m-%d %H:%M}, plntui {info['plntui']}\n"
        f"{info['cpus']} CPUs, Python {info['python']}, automerge {info['automerge']}"
        f"{', --quick' if args.quick else ''}; real TLS 1.3 over {LOOPBACK}; Alice: "
        f"{size:,} contacts and {size // 5:,} notes"
    )
    net = details["network"]
    notes = []
    if "receive" in details:
        notes.append(
            "new peer: Bob is `plntui init`, trusted both ways with certificates known (as after "
            "pairing) and added to Alice's circle; Alice runs `plntui sync` (a process, "
            "listening); timed: Bob's `plntui sync --once` as a whole process, interpreter start "
            f"to exit, with every document on his disk; median of {reps.receive}. Peak RSS by "
            + ("GNU time." if TIME else "— (GNU time not installed).")
        )
    notes.append(
        f"one document holding everything: the {net['one_snapshot_items']:,} items of the "
        "circle written into one Automerge document, 500 per change, saved, plus the circle "
        "document, zlib level 6 (what the one-document design sent a new peer)."
    )
    if "edits" in details:
        notes.append(
            "small edit: Alice and Bob as SyncRunners on one loop in this process (the app runs "
            "its engine in-process); timed from net.edit on Alice until Bob's stored digest of "
            "the document equals hers and his search index shows the new value."
        )
    if "relay_receive" in details:
        notes.append(
            "through the relay: the same new peer and small edits, with both profiles set to a "
            "Magic Wormhole transit relay on 127.0.0.1 (twistd transitrelay, a process) and a "
            "pair secret, and no address of each other: they meet only at the relay, and the "
            "same pinned TLS 1.3 runs over the relayed stream."
        )
    if "converge" in details:
        notes.append(
            f"converge: {args.peers} profiles share one circle, each made 20 contacts, 3 edits "
            "and a note offline; star: all dial peer 0, chain: peer i dials peer i-1; timed "
            "until every peer's documents of the circle have the merged digests on disk."
        )
    notes.append(
        f"total bench time {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end."
    )
    text = render(rows, size, results, notes)
    sys.stdout.write(title + "\n\n" + text + "\n")
    suffix = "-quick" if args.quick else ""
    out = args.out or BENCH / "results" / f"sync-{now:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "quick": args.quick,
        "contacts": size,
        "peers": args.peers,
        "reps": {k: getattr(reps, k) for k in Reps.__slots__},
        "targets": {m.key: [m.op, m.targets.get(size)] for m in rows if m.targets.get(size)},
        "results": results,
        "details": details,
        "table": text,
    }
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    log(f"results written to {out}")
    failed = [m.key for m in rows if verdict(m, size, results.get(m.key)) == "FAIL"]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
