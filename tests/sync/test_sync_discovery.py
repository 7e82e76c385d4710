"""Provides the discovery tests: parsing untrusted records, the bounded peer table, real zeroconf.

The pure tests run in the test process. Every test that starts zeroconf is wrapped by ``lan_test``:
run normally, it re-runs itself in a child pytest inside a private network namespace (loopback
only, see ``tests/lan.py``) and asserts that the child passed; inside, it first checks that the
process really is isolated, and fails (never skips) if it is not or no namespace can be made.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from sync.discovery import (
    INSTANCE_NAME_CHARS,
    LABEL_BYTES,
    MAX_ADDRESSES,
    MAX_PEERS,
    MAX_RESOLVING,
    NAME_CHARS,
    SERVICE_TYPE,
    Discovery,
    DiscoveryError,
    DiscoveryEvent,
    MalformedAnnouncement,
    PeerTable,
    SeenPeer,
    instance_label,
    parse_peer,
    peer_from_info,
    sanitize_name,
    txt_properties,
)
from sync.fingerprint import fingerprint_of, format_fingerprint, short_fingerprint
from sync.identity import Identity
from tests.lan import (
    ENV_MARKER,
    assert_in_lan,
    inside_or_rerun,
    isolation_problem,
    lan_command,
    run_in_lan,
)

HERE = Path(__file__).resolve()
LOOPBACK = ["127.0.0.1"]
CHILD_TIMEOUT = 90.0  # seconds for one re-run child (pytest start-up included)
BODY_TIMEOUT = 30.0


def fp(seed: int) -> bytes:
    return bytes([seed % 256]) * 32


def record(
    name: str = "Alice",
    fingerprint: bytes | None = None,
    *,
    key: str = "Alice AAAAAAA._plntui._tcp.local.",
    port: object = 4001,
    addresses: list[object] | None = None,
    **overrides: bytes | None,
) -> SeenPeer:
    """``parse_peer`` over a TXT record built like ours, with fields overridden or removed."""
    props: dict[bytes, bytes | None] = {
        k.encode(): v.encode() for k, v in txt_properties(name, fingerprint or fp(1)).items()
    }
    for field_name, value in overrides.items():
        if value is None:
            props.pop(field_name.encode(), None)
        else:
            props[field_name.encode()] = value
    return parse_peer(key, props, port, ["192.0.2.10"] if addresses is None else addresses)


def info(
    label: str,
    fingerprint: bytes,
    port: int = 4001,
    name: str | None = None,
    addresses: list[str] | None = None,
) -> ServiceInfo:
    return ServiceInfo(
        SERVICE_TYPE,
        f"{label}.{SERVICE_TYPE}",
        port=port,
        properties=txt_properties(label if name is None else name, fingerprint),
        parsed_addresses=addresses or ["192.0.2.10"],
    )


# -- what we announce ---------------------------------------------------------------------------


def test_instance_label_is_name_then_short_fingerprint() -> None:
    alice = fp(1)
    assert instance_label("Alice Martin", alice) == f"Alice Martin {short_fingerprint(alice)}"
    assert instance_label("", alice) == f"plntui {short_fingerprint(alice)}"
    assert instance_label("\x1b[2J\x07", alice) == f"[2J {short_fingerprint(alice)}"
    assert instance_label("J. R. Smith", alice).startswith("J R Smith ")  # dots split labels
    long_label = instance_label("x" * 500, alice)
    assert long_label == "x" * INSTANCE_NAME_CHARS + " " + short_fingerprint(alice)
    wide = instance_label("😀" * 40, alice)  # 4 bytes each: the 63-byte DNS label wins
    assert len(wide.encode()) <= LABEL_BYTES
    assert wide.endswith(" " + short_fingerprint(alice))


def test_same_display_name_gives_distinct_instance_names() -> None:
    assert instance_label("Sam", fp(1)) != instance_label("Sam", fp(2))


def test_txt_record_holds_only_hints_and_round_trips() -> None:
    alice = fp(7)
    props = txt_properties("Alice", alice)
    assert props == {"v": "1", "n": "Alice", "fp": format_fingerprint(alice)}
    peer = peer_from_info(info("Alice X", alice, port=4321, name="Alice"))
    assert peer is not None
    assert (peer.name, peer.fingerprint, peer.port, peer.addresses, peer.version) == (
        "Alice",
        alice,
        4321,
        ("192.0.2.10",),
        1,
    )
    assert peer.fingerprint_text == format_fingerprint(alice)
    assert peer.endpoints() == [("192.0.2.10", 4321)]


def test_discovery_refuses_bad_arguments_before_touching_the_network() -> None:
    def ignore(event: DiscoveryEvent) -> None:
        pass

    with pytest.raises(DiscoveryError, match="32 bytes"):
        Discovery("A", b"short", 4001, on_change=ignore, interfaces=LOOPBACK)
    with pytest.raises(DiscoveryError, match="port"):
        Discovery("A", fp(1), 0, on_change=ignore, interfaces=LOOPBACK)
    with pytest.raises(DiscoveryError, match="interfaces"):
        Discovery("A", fp(1), 4001, on_change=ignore, interfaces="127.0.0.1")


# -- what a peer announced: everything is untrusted ---------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"fp": None}, "no fingerprint"),
        ({"fp": b"ABCDEFG"}, "fingerprint is unusable"),
        ({"fp": b"0" * 52}, "fingerprint is unusable"),  # 0 is not base32
        ({"fp": b"\xff\xfe" * 26}, "fingerprint is unusable"),
        ({"fp": b"A" * 5000}, "fingerprint is"),
        ({"v": None}, "no protocol version"),
        ({"v": b"one"}, "not a small number"),
        ({"v": b"0"}, "out of range"),
        ({"v": b"99999"}, "not a small number"),
        ({"v": b"-1"}, "not a small number"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": None}, "port"),
        ({"port": True}, "port"),
        ({"port": "4001"}, "port"),
        ({"addresses": []}, "no usable"),
        ({"addresses": ["evil.example.com", "localhost"]}, "no usable"),  # never resolved
        ({"addresses": ["224.0.0.251", "0.0.0.0", "::", "255.255.255.255"]}, "no usable"),
        ({"addresses": ["1.2.3.4" + "0" * 100, b"\x7f\x00\x00\x01", 2130706433]}, "no usable"),
        ({"key": ""}, "service name"),
        ({"key": "x" * 300}, "service name"),
    ],
)
def test_malformed_records_are_dropped(overrides: dict[str, object], reason: str) -> None:
    kwargs: dict[str, object] = {}
    txt: dict[str, bytes | None] = {}
    for name, value in overrides.items():
        if name in {"port", "addresses", "key"}:
            kwargs[name] = value
        else:
            assert value is None or isinstance(value, bytes)
            txt[name] = value
    with pytest.raises(MalformedAnnouncement, match=reason):
        record(**kwargs, **txt)  # type: ignore[arg-type]


def test_fingerprint_in_hex_or_any_case_is_accepted_as_the_same_claim() -> None:
    alice = fp(9)
    assert record(fp=alice.hex().encode()).fingerprint == alice
    assert record(fp=format_fingerprint(alice).lower().encode()).fingerprint == alice


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"\x1b]0;pwned\x07Alice", "]0;pwned Alice"),  # terminal title escape: ESC and BEL gone
        (b"Ali\x1b[31mce", "Ali [31mce"),
        ("Eve\u202egnp.exe".encode(), "Evegnp.exe"),  # bidi override
        (b"Bob\nroot ALL=(ALL)\r\n", "Bob root ALL=(ALL)"),
        (b"Zo\xe9 \xff\xfe", "Zo\ufffd \ufffd\ufffd"),  # invalid UTF-8 is replaced, not fatal
        (b"  spaced   out  ", "spaced out"),
        (b"\x00\x01\x02", ""),
    ],
)
def test_display_names_are_sanitised(raw: bytes, shown: str) -> None:
    peer = record(n=raw)
    assert peer.name == shown
    assert all(ch.isprintable() for ch in peer.name)


def test_huge_display_name_is_capped_not_rejected() -> None:
    peer = record(n=b"A" * 10_000)
    assert peer.name == "A" * NAME_CHARS
    assert len(sanitize_name("é" * 1000)) == NAME_CHARS
    assert record(n=None).name == ""


def test_addresses_are_literal_deduplicated_and_capped() -> None:
    many = [f"10.0.0.{i}" for i in range(1, 100)]
    peer = record(addresses=["10.0.0.1", "10.0.0.1", "fe80::1%lo", "2001:db8::1", *many])
    assert peer.addresses[:3] == ("10.0.0.1", "fe80::1%lo", "2001:db8::1")
    assert len(peer.addresses) == MAX_ADDRESSES
    for address in peer.addresses:
        ipaddress.ip_address(address)
    assert record(addresses=["junk", "127.0.0.1"]).addresses == ("127.0.0.1",)


def test_unknown_txt_keys_are_ignored() -> None:
    peer = record(extra=b"x" * 200, path=b"/etc/passwd")
    assert peer.name == "Alice"


def test_a_spoofed_hint_carries_the_claimed_fingerprint_and_proves_nothing() -> None:
    """The rule the engine must follow, shown without any I/O.

    Mallory announces Alice's display name and fingerprint with her own address and port.
    Discovery reports it like any hint (it cannot tell), beside Alice's genuine one. Only the
    TLS handshake proves who answers: the engine expects Alice's pinned certificate, and the
    SHA-256 of the certificate Mallory can actually present is not Alice's fingerprint, so the
    check after the handshake (proven == expected) fails and the link is dropped.
    """
    alice, mallory = Identity.generate(), Identity.generate()
    genuine = peer_from_info(info(f"Alice {alice.short_fingerprint}", alice.fingerprint, 4001))
    spoof = peer_from_info(
        info(f"Alice {alice.short_fingerprint} 2", alice.fingerprint, 6666, name="Alice")
    )
    assert genuine is not None and spoof is not None
    assert spoof.fingerprint == alice.fingerprint  # the claim is reported as made...
    assert spoof.name == "Alice"
    table = PeerTable()
    table.upsert(genuine, 1.0)
    table.upsert(spoof, 2.0)
    claims = table.claiming(alice.fingerprint)
    assert [p.port for p in claims] == [6666, 4001]  # ...and cannot hide the genuine one
    proven = {4001: fingerprint_of(alice.cert_der), 6666: fingerprint_of(mallory.cert_der)}
    verdicts = {p.port: proven[p.port] == alice.fingerprint for p in claims}
    assert verdicts == {4001: True, 6666: False}  # the handshake, not the hint, decides
    assert not hasattr(spoof, "verified") and not hasattr(spoof, "trusted")


# -- the bounded peer table ---------------------------------------------------------------------


def peer(key: str, fingerprint: bytes, port: int = 4001) -> SeenPeer:
    return SeenPeer(
        key=key, name=key, fingerprint=fingerprint, port=port, addresses=("192.0.2.1",), version=1
    )


def test_table_reports_added_updated_removed() -> None:
    table = PeerTable(own_fingerprint=fp(0))
    a = peer("a", fp(1))
    assert table.upsert(a, 1.0) == [DiscoveryEvent("added", a)]
    assert table.upsert(a, 2.0) == []  # seen again, nothing changed
    assert table.get("a") is not None and table.get("a").seen_at == 2.0  # type: ignore[union-attr]
    moved = peer("a", fp(1), port=4002)
    assert table.upsert(moved, 3.0) == [DiscoveryEvent("updated", moved)]
    assert table.remove("a") == DiscoveryEvent("removed", moved)
    assert table.remove("a") is None
    assert table.upsert(peer("me?", fp(0))) == []  # claims our own fingerprint: never a peer
    assert len(table) == 0


def test_full_table_drops_the_least_recently_seen() -> None:
    table = PeerTable(3)
    for i in range(3):
        table.upsert(peer(f"p{i}", fp(i + 1)), float(i))
    table.upsert(peer("p0", fp(1)), 10.0)  # p0 seen again: p1 is now the oldest
    events = table.upsert(peer("p3", fp(4)), 11.0)
    assert [(e.kind, e.peer.key) for e in events] == [("removed", "p1"), ("added", "p3")]
    assert list(table.peers()) == ["p2", "p0", "p3"]


def test_preferred_fingerprints_outlive_a_flood() -> None:
    trusted = fp(200)
    table = PeerTable(4, prefer=lambda f: f == trusted)
    table.upsert(peer("trusted", trusted), 0.0)
    for i in range(100):
        table.upsert(peer(f"junk{i}", os.urandom(32)), float(i))
    assert "trusted" in table and len(table) == 4
    only_trusted = PeerTable(1, prefer=lambda f: f == trusted)
    only_trusted.upsert(peer("trusted", trusted))
    assert only_trusted.upsert(peer("junk", fp(3))) == []  # the newcomer is the one dropped
    assert list(only_trusted.peers()) == ["trusted"]


def test_prefer_callback_that_raises_does_not_break_the_table() -> None:
    def broken(_: bytes) -> bool:
        raise RuntimeError("boom")

    table = PeerTable(1, prefer=broken)
    table.upsert(peer("a", fp(1)))
    assert [e.kind for e in table.upsert(peer("b", fp(2)))] == ["removed", "added"]


def test_ten_thousand_synthetic_announcements_keep_the_table_bounded() -> None:
    trusted = fp(42)
    table = PeerTable(prefer=lambda f: f == trusted)
    table.upsert(peer_from_info(info("Trusted", trusted)) or pytest.fail("unparsed"), 0.0)
    added = removed = 0
    started = time.perf_counter()
    for i in range(10_000):
        seen = peer_from_info(
            info(f"flood{i}", os.urandom(32), 1 + i % 65535, addresses=[f"10.{i % 250}.0.1"])
        )
        assert seen is not None
        for event in table.upsert(seen, float(i)):
            added += event.kind == "added"
            removed += event.kind == "removed"
        assert len(table) <= MAX_PEERS
    elapsed = time.perf_counter() - started
    assert len(table) == MAX_PEERS
    assert added - removed == MAX_PEERS - 1  # the trusted hint was there before the flood
    assert table.claiming(trusted)  # the flood did not push out the trusted peer's hint
    assert elapsed < 10, f"parsing 10,000 announcements took {elapsed:.1f} s"


# -- the namespace helper -----------------------------------------------------------------------


def test_this_process_is_refused_outside_a_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get(ENV_MARKER) == "1":
        return  # the child that runs inside a namespace has nothing to show here
    assert isolation_problem() is not None
    monkeypatch.setenv(ENV_MARKER, "1")  # the marker alone is not enough
    problem = isolation_problem()
    if problem is not None:  # (a host whose only interface is lo would pass: nothing leaks)
        assert "only 'lo' is allowed" in problem or "224.0.0.0/4" in problem
        with pytest.raises(AssertionError, match="refusing to start zeroconf"):
            assert_in_lan()


def test_no_namespace_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.lan as lan

    real = lan._tool
    monkeypatch.setattr(
        lan, "_tool", lambda name: "/bin/false" if name == "unshare" else real(name)
    )
    lan.lan_problem.cache_clear()
    try:
        with pytest.raises(lan.LanUnavailable, match="cannot make a private network namespace"):
            run_in_lan(["true"])
    finally:
        lan.lan_problem.cache_clear()


def test_missing_tools_are_named_with_their_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.lan as lan

    monkeypatch.setattr(lan, "_tool", lambda name: None)
    with pytest.raises(lan.LanUnavailable, match=r"unshare.*util-linux.*ip.*iproute2"):
        lan_command(["true"])


# -- real zeroconf, inside the namespace --------------------------------------------------------


def lan_test(body: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run ``body`` inside a private namespace: re-run this test there, or run it if inside."""

    def test() -> None:
        if inside_or_rerun(HERE, body.__name__, CHILD_TIMEOUT):
            asyncio.run(asyncio.wait_for(body(), BODY_TIMEOUT))

    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    return test


class Recorder:
    """Collects the events of one ``Discovery``."""

    def __init__(self) -> None:
        self.events: list[DiscoveryEvent] = []

    def __call__(self, event: DiscoveryEvent) -> None:
        self.events.append(event)

    def kinds(self, key: str) -> list[str]:
        return [e.kind for e in self.events if e.peer.key == key]


async def until(condition: Callable[[], bool], what: str, timeout: float = 8.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def make(name: str, fingerprint: bytes, port: int) -> tuple[Discovery, Recorder]:
    """A ``Discovery`` bound to the namespace's loopback only, with its event recorder."""
    recorder = Recorder()
    return Discovery(name, fingerprint, port, on_change=recorder, interfaces=LOOPBACK), recorder


def seen(discovery: Discovery, fingerprint: bytes) -> list[SeenPeer]:
    return discovery.claiming(fingerprint)


@lan_test
async def test_two_peers_see_each_other() -> None:
    alice_fp, bob_fp = os.urandom(32), os.urandom(32)
    alice, alice_events = make("Alice", alice_fp, 41001)
    bob, bob_events = make("Bob", bob_fp, 41002)
    try:
        await asyncio.gather(alice.start(), bob.start())
        await until(
            lambda: bool(seen(alice, bob_fp) and seen(bob, alice_fp)), "both see each other"
        )
        (b,) = alice.peers().values()
        (a,) = bob.peers().values()
        assert (b.name, b.fingerprint, b.port, b.addresses, b.version) == (
            "Bob",
            bob_fp,
            41002,
            ("127.0.0.1",),
            1,
        )
        assert (a.name, a.fingerprint, a.port, a.addresses) == (
            "Alice",
            alice_fp,
            41001,
            ("127.0.0.1",),
        )
        assert a.key == alice.service_name == f"Alice {short_fingerprint(alice_fp)}.{SERVICE_TYPE}"
        assert alice_events.kinds(b.key)[0] == "added"
        assert all(e.peer.fingerprint != alice_fp for e in alice_events.events)  # never itself
    finally:
        await asyncio.gather(alice.stop(), bob.stop())


@lan_test
async def test_same_display_name_gives_two_distinct_peers() -> None:
    one_fp, two_fp = os.urandom(32), os.urandom(32)
    one, _ = make("Sam", one_fp, 41011)
    two, _ = make("Sam", two_fp, 41012)
    observer, _ = make("Olive", os.urandom(32), 41013)
    try:
        await asyncio.gather(one.start(), two.start(), observer.start())
        await until(lambda: len(observer.peers()) == 2, "the observer sees both Sams")
        assert one.service_name != two.service_name
        by_fp = {p.fingerprint: p for p in observer.peers().values()}
        assert by_fp[one_fp].port == 41011 and by_fp[two_fp].port == 41012
        assert by_fp[one_fp].name == by_fp[two_fp].name == "Sam"
        await until(lambda: bool(seen(one, two_fp)) and bool(seen(two, one_fp)), "Sams meet")
    finally:
        await asyncio.gather(one.stop(), two.stop(), observer.stop())


@lan_test
async def test_a_peer_that_stops_is_removed() -> None:
    alice_fp, bob_fp = os.urandom(32), os.urandom(32)
    alice, alice_events = make("Alice", alice_fp, 41021)
    bob, _ = make("Bob", bob_fp, 41022)
    try:
        await asyncio.gather(alice.start(), bob.start())
        await until(lambda: bool(seen(alice, bob_fp)), "Alice sees Bob")
        key = bob.service_name
        assert key is not None
        await bob.stop()
        took = await until(lambda: not seen(alice, bob_fp), "Bob's goodbye reaches Alice", 5.0)
        assert alice_events.kinds(key) == ["added", "removed"]
        assert took < 5.0
        assert bob.peers() == {} and not bob.running
    finally:
        await asyncio.gather(alice.stop(), bob.stop())


@lan_test
async def test_spoofed_announcement_is_reported_as_a_mere_hint() -> None:
    alice_fp = os.urandom(32)
    alice, _ = make("Alice", alice_fp, 41031)
    bob, bob_events = make("Bob", os.urandom(32), 41032)
    mallory = AsyncZeroconf(interfaces=LOOPBACK)
    fake = ServiceInfo(
        SERVICE_TYPE,
        f"Alice {short_fingerprint(alice_fp)} (2).{SERVICE_TYPE}",
        port=6666,
        properties=txt_properties("Alice", alice_fp),  # someone else's name and fingerprint
        parsed_addresses=["127.0.0.1"],
    )
    try:
        await asyncio.gather(alice.start(), bob.start())
        await mallory.async_register_service(fake)
        await until(lambda: len(seen(bob, alice_fp)) == 2, "Bob sees both claims to be Alice")
        ports = sorted(p.port for p in seen(bob, alice_fp))
        assert ports == [6666, 41031]  # the genuine hint stays; the handshake must decide
        spoof = next(p for p in seen(bob, alice_fp) if p.port == 6666)
        assert spoof.fingerprint == alice_fp and spoof.name == "Alice"
        assert "added" in bob_events.kinds(spoof.key)
    finally:
        await mallory.async_close()
        await asyncio.gather(alice.stop(), bob.stop())


@lan_test
async def test_an_mdns_flood_keeps_the_peer_table_bounded() -> None:
    flood_size, limit = 1000, 128
    alice_fp, bob_fp = os.urandom(32), os.urandom(32)
    alice, _ = make("Alice", alice_fp, 41041)
    bob, _ = make("Bob", bob_fp, 41043)
    flooded = 0

    def count(event: DiscoveryEvent) -> None:
        nonlocal flooded
        flooded += event.kind == "added" and event.peer.name.startswith("flood")

    watcher = Discovery(
        "Watcher",
        os.urandom(32),
        41042,
        on_change=count,
        interfaces=LOOPBACK,
        prefer=lambda f: f == alice_fp,
        max_peers=limit,
    )
    flooder = AsyncZeroconf(interfaces=LOOPBACK)
    peak = {"table": 0, "backlog": 0}

    async def sample() -> None:
        while True:
            peak["table"] = max(peak["table"], len(watcher.peers()))
            peak["backlog"] = max(peak["backlog"], watcher.backlog)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.gather(alice.start(), watcher.start())
        await until(lambda: bool(seen(watcher, alice_fp)), "the watcher sees Alice")
        fakes = [
            ServiceInfo(
                SERVICE_TYPE,
                f"flood{i}.{SERVICE_TYPE}",
                port=10_000 + i,
                properties=txt_properties(f"flood{i}", os.urandom(32)),
                parsed_addresses=["127.0.0.1"],
            )
            for i in range(flood_size)
        ]
        started = time.monotonic()
        for first in range(0, flood_size, 100):  # in bursts, so loopback's buffers keep up
            await asyncio.gather(
                *(
                    flooder.async_register_service(f, cooperating_responders=True)
                    for f in fakes[first : first + 100]
                )
            )
            await asyncio.sleep(0.05)
        await until(lambda: flooded >= 2 * limit, "the flood reaches the watcher", 15.0)
        await until(lambda: watcher.backlog == 0, "the resolution backlog drains", 15.0)
        took = time.monotonic() - started
        assert len(watcher.peers()) == limit and peak["table"] <= limit
        assert peak["backlog"] <= limit + MAX_RESOLVING
        assert seen(watcher, alice_fp), "the flood pushed out a preferred (trusted) peer"
        assert took < 20, f"{took:.1f} s"
        await bob.start()  # a newcomer after the flood is still found
        await until(lambda: bool(seen(watcher, bob_fp)), "the watcher sees Bob after the flood")
        assert len(watcher.peers()) == limit
    finally:
        sampler.cancel()
        await flooder.async_close()
        await asyncio.gather(alice.stop(), bob.stop(), watcher.stop())
