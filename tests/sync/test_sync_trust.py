"""The trust store: pinning, revoking, learned certificates, addresses, and a damaged file."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from sync.errors import UntrustedPeer
from sync.fingerprint import fingerprint_of
from sync.identity import Identity
from sync.trust import (
    MAX_NAME,
    SyncRecord,
    TrustStore,
    TrustStoreError,
    UnknownPeer,
    parse_hostport,
    sanitize_name,
)

FP_A = bytes(range(32))
FP_B = bytes(range(1, 33))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "profile" / "peers.json"


def test_a_missing_file_is_an_empty_store_and_nothing_is_written(path: Path) -> None:
    store = TrustStore(path)
    assert store.peers() == []
    assert store.trusted_certs() == []
    assert not store.is_trusted(FP_A)
    assert store.get(FP_A) is None
    assert not path.exists()


def test_trust_writes_a_private_file_atomically(path: Path) -> None:
    store = TrustStore(path)
    peer = store.trust(FP_A, "Bob")
    assert peer.trusted and peer.name == "Bob" and peer.cert is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    data = json.loads(path.read_text())
    assert data["format"] == 1
    entry = data["peers"][FP_A.hex()]
    assert entry["state"] == "trusted" and entry["name"] == "Bob"
    # a second store on the same file sees the same
    again = TrustStore(path)
    assert again.get(FP_A) == peer
    assert again.is_trusted(FP_A)


def test_version_changes_with_every_trust_change_but_not_with_counters(path: Path) -> None:
    store = TrustStore(path)
    versions = [store.version]
    store.trust(FP_A, "Bob")
    versions.append(store.version)
    store.add_address(FP_A, "10.0.0.2:22000")
    versions.append(store.version)
    store.revoke(FP_A)
    versions.append(store.version)
    store.trust(FP_A)
    versions.append(store.version)
    assert len(set(versions)) == len(versions)
    before = store.version
    store.record_sync(FP_A, changes_in=3, bytes_in=100, synced_at=dt.datetime.now(dt.UTC))
    assert store.version == before


def test_revoke_and_trust_again(path: Path) -> None:
    store = TrustStore(path)
    store.trust(FP_A, "Bob")
    revoked = store.revoke(FP_A)
    assert revoked.state == "revoked" and revoked.name == "Bob"
    assert not store.is_trusted(FP_A)
    assert FP_A not in store.trusted_fingerprints()
    again = store.trust(FP_A)
    assert again.trusted and again.name == "Bob"  # the name is kept when none is given
    with pytest.raises(UnknownPeer, match="no peer"):
        store.revoke(FP_B)
    with pytest.raises(ValueError, match="32 bytes"):
        store.trust(b"short", "x")


def test_certificates_are_learned_only_for_their_trusted_fingerprint(
    path: Path, tmp_path: Path
) -> None:
    ident = Identity.load_or_create(tmp_path / "id")
    other = Identity.load_or_create(tmp_path / "other")
    store = TrustStore(path)
    with pytest.raises(UntrustedPeer):  # not trusted (not even known)
        store.learn_cert(ident.fingerprint, ident.cert_der)
    store.trust(ident.fingerprint, "Ann")
    with pytest.raises(ValueError, match="does not belong"):
        store.learn_cert(ident.fingerprint, other.cert_der)
    assert store.learn_cert(ident.fingerprint, ident.cert_der) is True
    assert store.learn_cert(ident.fingerprint, ident.cert_der) is False
    assert store.trusted_certs() == [ident.cert_der]
    assert TrustStore(path).get(ident.fingerprint).cert == ident.cert_der  # type: ignore[union-attr]
    store.revoke(ident.fingerprint)
    assert store.trusted_certs() == []  # a revoked peer's certificate is no trust anchor
    with pytest.raises(UntrustedPeer):
        store.learn_cert(ident.fingerprint, ident.cert_der)


def test_names_are_sanitised() -> None:
    assert sanitize_name("Bob\x1b[31m Smith\x07") == "Bob [31m Smith"
    assert sanitize_name("  Ann\n\tLee  ") == "Ann Lee"
    assert sanitize_name("evil\u202etxt.exe") == "eviltxt.exe"  # bidi override removed
    assert len(sanitize_name("x" * 500)) == MAX_NAME
    assert sanitize_name("Zoë 李") == "Zoë 李"


def test_name_from_the_store_is_sanitised(path: Path) -> None:
    store = TrustStore(path)
    assert store.trust(FP_A, "\x1b]0;pwned\x07Bob").name == "]0;pwned Bob"
    assert store.rename(FP_A, "Robert").name == "Robert"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.168.1.20:22000", ("192.168.1.20", 22000)),
        ("laptop.local:1", ("laptop.local", 1)),
        ("[fe80::1]:65535", ("fe80::1", 65535)),
        (" host-a:8080 ", ("host-a", 8080)),
    ],
)
def test_good_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.168.1.20", "expected HOST:PORT"),
        (":22000", "expected HOST:PORT"),
        ("host:0", "out of range"),
        ("host:65536", "out of range"),
        ("host:http", "not a port"),
        ("fe80::1:22", "IPv6"),
        ("[nothex]:22", "not an IPv6"),
        ("bad host:22", "not a host name"),
        ("-x.com:22", "not a host name"),
        ("host:２２", "not a port"),
    ],
)
def test_bad_addresses_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hostport(text)


def test_add_address(path: Path) -> None:
    store = TrustStore(path)
    with pytest.raises(UnknownPeer):
        store.add_address(FP_A, "10.0.0.1:1000")
    store.trust(FP_A, "Bob")
    store.add_address(FP_A, "10.0.0.1:1000")
    store.add_address(FP_A, "10.0.0.1:1000")  # no duplicate
    store.add_address(FP_A, "[::1]:1001")
    assert store.get(FP_A).addresses == ("10.0.0.1:1000", "[::1]:1001")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="port"):
        store.add_address(FP_A, "10.0.0.1:99999")


def test_record_sync_counts_and_dates(path: Path) -> None:
    store = TrustStore(path)
    store.trust(FP_A, "Bob")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    store.record_sync(FP_A, changes_in=2, changes_out=1, bytes_in=10, bytes_out=20, synced_at=when)
    store.record_syncs({FP_A: SyncRecord(changes_in=1), FP_B: SyncRecord(changes_in=5)})
    peer = TrustStore(path).get(FP_A)
    assert peer is not None
    assert (peer.changes_in, peer.changes_out, peer.bytes_in, peer.bytes_out) == (3, 1, 10, 20)
    assert peer.last_sync == when
    assert TrustStore(path).get(FP_B) is None  # unknown peers are not created by counters


def test_two_stores_on_one_file_never_lose_updates(path: Path) -> None:
    daemon, cli = TrustStore(path), TrustStore(path)
    daemon.trust(FP_A, "Bob")
    cli.trust(FP_B, "Carol")  # cli had not seen Bob: it re-reads before writing
    daemon.record_sync(FP_A, changes_in=1)  # daemon had not seen Carol
    final = TrustStore(path)
    assert {p.name for p in final.peers()} == {"Bob", "Carol"}
    # the daemon's own write re-read the file: it knows Carol before any refresh
    assert daemon.is_trusted(FP_B)
    assert daemon.refresh() is False  # and nothing changed since


def test_refresh_notices_another_process(path: Path) -> None:
    daemon = TrustStore(path)
    daemon.trust(FP_A, "Bob")
    assert daemon.refresh() is False
    TrustStore(path).revoke(FP_A)
    assert daemon.is_trusted(FP_A)  # not yet re-read
    assert daemon.refresh() is True
    assert not daemon.is_trusted(FP_A)
    assert daemon.refresh() is False


def test_concurrent_writers_in_threads(path: Path) -> None:
    stores = [TrustStore(path) for _ in range(4)]
    fps = [fingerprint_of(bytes([i])) for i in range(40)]

    def work(k: int) -> None:
        for fp in fps[k::4]:
            stores[k].trust(fp, f"peer {k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(TrustStore(path).peers()) == 40


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "top level"),
        (b'{"format": 99, "peers": {}}', "newer plntui"),
        (b'{"format": 1, "peers": {"abc": {}}}', "not a fingerprint"),
        (b'{"format": 1, "peers": {"%s": {"state": "maybe"}}}' % FP_A.hex().encode(), "state"),
        (
            b'{"format": 1, "peers": {"%s": {"state": "trusted", "cert": "AAAA"}}}'
            % FP_A.hex().encode(),
            "does not match",
        ),
        (
            b'{"format": 1, "peers": {"%s": {"state": "trusted", "addresses": ["x"]}}}'
            % FP_A.hex().encode(),
            "address",
        ),
        (
            b'{"format": 1, "peers": {"%s": {"state": "trusted", "counters": {"bytes_in": -1}}}}'
            % FP_A.hex().encode(),
            "counter",
        ),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_damaged_file_is_refused_and_never_overwritten(
    path: Path, content: bytes, message: str
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(TrustStoreError, match=message) as info:
        TrustStore(path)
    assert "never overwrites" in info.value.message
    assert path.read_bytes() == content


def test_damage_after_start_is_refused_on_refresh_and_on_write(path: Path) -> None:
    store = TrustStore(path)
    store.trust(FP_A, "Bob")
    path.write_bytes(b'{"format": 1, "peers": 7}')
    os.utime(path, ns=(1, 1))
    with pytest.raises(TrustStoreError, match="damaged"):
        store.refresh()
    with pytest.raises(TrustStoreError, match="damaged"):
        store.trust(FP_B, "Carol")
    assert path.read_bytes() == b'{"format": 1, "peers": 7}'
