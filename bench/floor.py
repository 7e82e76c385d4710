"""Provides the floor benchmark: the CPU that a new peer receiving the whole network needs, part
by part, measured in one process on the code's own path, one part after the other.

Usage: ``python bench/floor.py [--contacts 10000] [--quick] [--profiles DIR] [--keep]``.
Alice's profile is the one ``bench/core.py`` and ``bench/sync.py`` build (``--profiles`` reuses
it). Bob is a new profile that Alice added to her circle. The parts:

* Alice prepares the frames: each shared document read and inflated (``RepoHost.stored``), then
  the frames made and compressed as the sync session does (``doc_entry``, ``pack_docs``; 256 KiB
  first, doubling to 2 MiB);
* Bob takes the frames apart (``zlib`` decompression);
* Bob's checks (``checkpool.check_new``, what the workers run): each document compacted again,
  loaded, checked by the guard and read into index rows; and within them, ``Document.load`` of
  each stored form alone, which any check of a document must do;
* Bob's storing and indexing: ``RepoHost.receive_docs`` of each frame, its checks done in this
  process and their CPU taken out.

The figures are CPU seconds. Divided by the machine's cores they give the least time the whole
receipt could take once the first frame is there, were every part spread perfectly over the
cores with nothing waiting: the floor under ``bench/sync.py``'s "new peer" row (which also
counts Bob's process start, the handshake and the first frame). Prints a table; writes
``bench/results/floor-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

import automerge.core as am  # noqa: E402
from core import copy_profile, ensure_profile, fmt, log, machine, table  # noqa: E402

from plntui import amchunks  # noqa: E402
from plntui.checkpool import Checked, CheckPool, Failed, check_new, cores  # noqa: E402
from plntui.network import Network  # noqa: E402
from plntui.peersync import open_trust  # noqa: E402
from plntui.sync_host import RepoHost  # noqa: E402
from sync.session import BATCH_BYTES, FIRST_BATCH_BYTES, doc_entry, pack_docs  # noqa: E402

TARGETS = {10_000: 1.5, 100_000: 15.0}
"""The new peer's time targets (end to end), by contacts."""


def cpu() -> float:
    return time.process_time()


class TimedChecks(CheckPool):
    """Checks every document in this process and counts the CPU the checks take."""

    def __init__(self) -> None:
        super().__init__(workers=1)
        self.spent = 0.0

    def check(self, docs: Sequence[tuple[str, bytes]]) -> Iterator[Checked | Failed]:
        t = cpu()
        results = list(super().check(docs))
        self.spent += cpu() - t
        return iter(results)


def frames_of(docs: Sequence[tuple[str, bytes]], batch_bytes: int) -> list[list[tuple[str, bytes]]]:
    """The documents in frames as ``SyncSession._send_docs_batch`` fills them: the first at most
    ``FIRST_BATCH_BYTES``, each next one up to twice the last, at most ``batch_bytes``."""
    frames: list[list[tuple[str, bytes]]] = []
    limit = FIRST_BATCH_BYTES
    part: list[tuple[str, bytes]] = []
    size = 0
    for doc_id, data in docs:
        if part and size + len(data) > limit:
            frames.append(part)
            part, size = [], 0
            limit = min(limit * 2, batch_bytes)
        part.append((doc_id, data))
        size += len(data)
    if part:
        frames.append(part)
    return frames


def measure(template: Path, work: Path) -> dict[str, Any]:
    alice = Network.open(copy_profile(template, work / "alice"))
    bob = Network.create(work / "bob", "Bob")
    assert bob.profile.fingerprint is not None and alice.profile.fingerprint is not None
    circle = alice.default_circle().id
    for x, y in ((alice, bob), (bob, alice)):  # trusted both ways, as pairing leaves them
        assert y.profile.fingerprint is not None
        open_trust(x.profile.home).trust(y.profile.fingerprint, y.profile.meta.name)
    alice.add_member(circle, bob.profile.fingerprint, "Bob")
    sender = RepoHost(alice)
    receiver = RepoHost(bob)
    receiver.checks.close()
    receiver.checks = checks = TimedChecks()
    out: dict[str, Any] = {}
    try:
        ids = sorted(sender.manifest_for(bob.profile.fingerprint))
        # circles first, as a new peer must learn the circle before its documents
        ids.sort(key=lambda d: not d.startswith("c:"))

        t = cpu()
        wire: list[tuple[str, bytes]] = []
        digests: dict[str, str] = {}
        for doc_id in ids:
            found = sender.stored(doc_id)
            assert found is not None
            wire.append((doc_id, found[0]))
            digests[doc_id] = found[1]
        out["alice_read_inflate"] = cpu() - t
        frames = frames_of(wire, BATCH_BYTES)
        t = cpu()
        payloads = [
            pack_docs([doc_entry(doc_id, digests[doc_id], data) for doc_id, data in frame])
            for frame in frames
        ]
        out["alice_compress"] = cpu() - t

        t = cpu()
        for payload in payloads:
            zlib.decompress(payload)
        out["bob_decompress"] = cpu() - t

        compact = []
        t = cpu()
        for _doc_id, data in wire:
            try:
                compact.append(amchunks.deflated(data))
            except ValueError:
                compact.append(data)
        out["bob_deflate"] = cpu() - t
        t = cpu()
        for data in compact:
            am.Document.load(data)
        out["bob_load"] = cpu() - t
        t = cpu()
        for doc_id, data in wire:
            check_new(doc_id, data)
        out["bob_checks"] = cpu() - t

        t = cpu()
        for frame in frames:
            receiver.receive_docs(alice.profile.fingerprint, frame)
        out["bob_receive"] = cpu() - t
        out["bob_store_index"] = out["bob_receive"] - checks.spent

        got = bob.repo.storage.manifest([circle])
        expected = alice.repo.storage.manifest([circle])
        if got != expected:
            raise RuntimeError(f"Bob holds {len(got)} of Alice's {len(expected)} documents")
        out["documents"] = len(ids)
        out["frames"] = len(frames)
        out["wire_bytes"] = sum(len(d) for _i, d in wire)
        out["frame_bytes"] = sum(len(p) for p in payloads)
        out["notes"] = sum(1 for d in ids if d.startswith("n:"))
        out["shards"] = sum(1 for d in ids if d.startswith("s:"))
    finally:
        sender.close()
        receiver.close()
        alice.profile.close()
        bob.profile.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the CPU a new peer's receipt needs, by part")
    parser.add_argument("--contacts", type=int, default=10_000, help="Alice's contacts (10000)")
    parser.add_argument("--quick", action="store_true", help="1,000 contacts: a smoke test")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    parser.add_argument("--profiles", type=Path, help="build Alice's profile here and reuse it")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, help="JSON results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.contacts = 1_000
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="plntui-bench-floor-"))
    started = _dt.datetime.now().replace(microsecond=0)
    load_start = os.getloadavg()
    try:
        profiles = args.profiles.resolve() if args.profiles else work / "profiles"
        template = profiles / f"profile-{args.contacts}"
        ensure_profile(template, args.contacts, args.seed)
        log(f"measuring the parts of a new peer's receipt ({args.contacts:,} contacts)")
        r = measure(template, work / "run")
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    n = cores()
    floor = r["alice_read_inflate"] + r["alice_compress"] + r["bob_decompress"] + r["bob_load"]
    floor += r["bob_store_index"]
    now = floor - r["bob_load"] + r["bob_checks"]
    rows = [
        ["Alice: read and inflate each document", fmt(r["alice_read_inflate"], "s")],
        ["Alice: compress the frames (level 9)", fmt(r["alice_compress"], "s")],
        ["Bob: decompress the frames", fmt(r["bob_decompress"], "s")],
        ["Bob: checks (check_new: compact, load, guard, index rows)", fmt(r["bob_checks"], "s")],
        ["  of which Document.load alone (the least a check does)", fmt(r["bob_load"], "s")],
        ["  of which compacting the columns again", fmt(r["bob_deflate"], "s")],
        ["Bob: store and index (receive_docs but its checks)", fmt(r["bob_store_index"], "s")],
        ["all of it, CPU", fmt(now, "s")],
        [f"  ÷ {n} cores: the least time after the first frame", fmt(now / n, "s")],
        ["the same with each check only a load, CPU", fmt(floor, "s")],
        [f"  ÷ {n} cores", fmt(floor / n, "s")],
    ]
    target = TARGETS.get(args.contacts)
    print(
        f"A new peer receiving {args.contacts:,} contacts: {r['documents']:,} documents "
        f"({r['notes']:,} notes, {r['shards']:,} shards), {r['frames']} frames, "
        f"{r['wire_bytes']:,} bytes in wire form, {r['frame_bytes']:,} in frames"
    )
    print()
    print("\n".join(table(["part (CPU, one process)", "seconds"], rows)))
    print()
    if target is not None:
        print(f"target for the whole receipt, end to end: < {target:g} s")
    print(
        "A part's CPU is measured alone; the receipt runs them at once on the cores, with Bob's "
        "process start, the handshake and the first frame before them."
    )
    print(f"load average (1 min) {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end.")
    out = args.out or BENCH / "results" / f"floor-{started:%Y-%m-%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": started.isoformat(),
                "machine": machine(),
                "loadavg_start": load_start,
                "loadavg_end": os.getloadavg(),
                "contacts": args.contacts,
                "cores": n,
                "parts": r,
                "cpu_all": now,
                "cpu_floor": floor,
                "target": target,
            },
            indent=1,
        )
    )
    log(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
