"""``plntui peer introducer / pending / approve / reject`` and the introducer columns of list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plntui.cli import main
from plntui.peersync import open_trust
from sync.fingerprint import fingerprint_of, format_fingerprint
from sync.trust import Introduction

CERT_B, CERT_C, CERT_D = b"cert of bob", b"cert of carol", b"cert of dave"
B, C, D = (fingerprint_of(c) for c in (CERT_B, CERT_C, CERT_D))
UNKNOWN = format_fingerprint(bytes(range(32)))


def run(home: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    status = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    assert status == code, (status, captured.out, captured.err)
    return captured.out if code == 0 else captured.err


def offer_from_bob(home: Path, *entries: Introduction) -> None:
    """What the sync daemon does when Bob's introductions arrive."""
    trust = open_trust(home)
    trust.receive_introductions(B, entries, own=bytes(32))


def test_introducer_pending_approve_reject_and_list(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(home, capsys, "init", "--name", "Alice")
    run(home, capsys, "peer", "trust", format_fingerprint(B), "--name", "Bob")
    assert "No introductions" in run(home, capsys, "peer", "pending")

    out = run(home, capsys, "peer", "introducer", format_fingerprint(B))
    assert "Bob is now an introducer" in out and "Auto-accept" not in out
    offer_from_bob(
        home,
        Introduction(C, "Carol\x1b]0;evil\x07", CERT_C, ("10.0.0.9:47600",)),
        Introduction(D, "Dave"),
    )
    out = run(home, capsys, "peer", "pending")
    assert format_fingerprint(C) in out and "offered by Bob" in out
    assert "\x1b" not in out and "\x07" not in out
    listed = json.loads(run(home, capsys, "peer", "pending", "--json"))
    assert [(e["name"], e["introducer"]) for e in listed] == [
        ("Carol ]0;evil", format_fingerprint(B)),
        ("Dave", format_fingerprint(B)),
    ]
    # not trusted until approved
    peers = json.loads(run(home, capsys, "peer", "list", "--json"))
    assert [p["name"] for p in peers] == ["Bob"] and peers[0]["introducer"] is True

    out = run(home, capsys, "peer", "approve", format_fingerprint(C))
    assert "Trusted Carol" in out and "introduced by Bob" in out and "peer trust" in out
    out = run(home, capsys, "peer", "reject", format_fingerprint(D))
    assert "Rejected Dave" in out and "not be offered again" in out
    assert "No introductions" in run(home, capsys, "peer", "pending")

    out = run(home, capsys, "peer", "list")
    carol = next(line for line in out.splitlines() if line.startswith("Carol"))
    assert "trusted" in carol and "introduced by Bob" in carol
    bob = next(line for line in out.splitlines() if line.startswith("Bob"))
    assert bob.rstrip().endswith("introducer")
    dave = next(line for line in out.splitlines() if line.startswith("Dave"))
    assert "revoked" in dave
    peers = {p["name"]: p for p in json.loads(run(home, capsys, "peer", "list", "--json"))}
    assert peers["Carol ]0;evil"]["introduced_by"] == format_fingerprint(B)
    assert peers["Carol ]0;evil"]["addresses"] == ["10.0.0.9:47600"]

    # Dave, rejected, is not offered again
    offer_from_bob(home, Introduction(D, "Dave"))
    assert "No introductions" in run(home, capsys, "peer", "pending")

    out = run(home, capsys, "peer", "introducer", format_fingerprint(B), "--auto")
    assert "Auto-accept" in out and "revoke" in out
    assert "introducer (auto-accept)" in run(home, capsys, "peer", "list")
    out = run(home, capsys, "peer", "introducer", format_fingerprint(B), "--off")
    assert "no longer an introducer" in out
    peers = json.loads(run(home, capsys, "peer", "list", "--json"))
    assert not any(p["introducer"] for p in peers)


def test_bad_fingerprints_and_options_are_clear_errors(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(home, capsys, "init", "--name", "Alice")
    path = open_trust(home).path
    err = run(home, capsys, "peer", "introducer", UNKNOWN, code=2)
    assert "no peer" in err and "peer trust" in err
    err = run(home, capsys, "peer", "approve", UNKNOWN, code=2)
    assert "no introduction" in err and "plntui peer pending" in err
    err = run(home, capsys, "peer", "reject", UNKNOWN, code=2)
    assert "no introduction" in err
    err = run(home, capsys, "peer", "approve", "not-a-fingerprint", code=2)
    assert "fingerprint" in err
    assert not path.exists()  # nothing was stored
    run(home, capsys, "peer", "trust", format_fingerprint(B), "--name", "Bob")
    run(home, capsys, "peer", "introducer", format_fingerprint(B), "--auto", "--off", code=2)
    run(home, capsys, "peer", "revoke", format_fingerprint(B))
    stored = path.read_bytes()
    err = run(home, capsys, "peer", "introducer", format_fingerprint(B), code=2)
    assert "revoked" in err
    assert path.read_bytes() == stored
