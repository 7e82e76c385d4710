"""Pairing by code: the code, the safety number, the sans-IO exchange, and the engine over TLS.

The sans-IO half drives ``InviterPairing`` and ``JoinerPairing`` in memory (a wrong code, a man
in the middle, replays, bad input, hypothesis); the engine half pairs two ``SyncEngine`` on
127.0.0.1 over real TLS (no discovery) and attacks the anonymous path with raw clients and a
TLS-terminating proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import (
    Node,
    cluster,
    doc_sync_frame,
    doc_with,
    eventually,
    hello_frame,
    manifest_frame,
    want_frame,
)

from sync.engine import (
    PairingRefused,
    PairingSucceeded,
    PeerRefused,
    Timeouts,
)
from sync.errors import RemoteProtocolError, SyncError
from sync.framing import FrameDecoder, encode_frame
from sync.identity import Identity
from sync.pairing import (
    MAX_PAIR_MESSAGE,
    PAIR_CONFIRM,
    PAIR_START,
    Invite,
    InviterPairing,
    InviteState,
    JoinerPairing,
    PairedPeer,
    PairingCode,
    PairingFailed,
    new_code,
    new_invite,
    parse_code,
    safety_number,
)
from sync.tls import TlsChannel, client_context_anonymous, server_context

pytestmark = pytest.mark.timeout(60)
E = TypeVar("E")

ALICE = Identity.generate()
BOB = Identity.generate()
MALLORY = Identity.generate()
_CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


# -- the code -----------------------------------------------------------------------------------


def test_new_codes_parse_back_and_carry_forty_bits_of_secret() -> None:
    seen = set()
    for _ in range(200):
        code = new_code()
        assert len(code.secret) == 8 and set(code.secret) <= _CROCKFORD  # 8 x 5 bits
        assert code.nameplate.isdigit() and 10 <= int(code.nameplate) <= 99
        assert parse_code(code.text) == code
        assert code.text == f"{code.nameplate}-{code.secret[:4]}-{code.secret[4:]}"
        seen.add(code.secret)
    assert len(seen) == 200  # random, not a counter


@pytest.mark.parametrize(
    "typed",
    [
        "42-7KQM-D3XA",
        "42-7kqm-d3xa",
        " 42 7KQM D3XA ",
        "427KQMD3XA",
        "42_7KQM_D3XA",
        "42--7kQm--d3Xa",
    ],
)
def test_typing_is_forgiving_about_case_spaces_and_dashes(typed: str) -> None:
    assert parse_code(typed) == PairingCode("42", "7KQMD3XA")


def test_look_alike_letters_read_as_digits() -> None:
    assert parse_code("42-OOil-LIo0") == PairingCode("42", "00111100")
    assert parse_code("4I-7KQM-D3XA") == PairingCode("41", "7KQMD3XA")


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "is not a pairing code"),
        ("42-7KQM", "is not a pairing code"),
        ("42-7KQM-D3XA-9", "is not a pairing code"),
        ("AB-7KQM-D3XA", "is not a pairing code"),
        ("07-7KQM-D3XA", "is not a pairing code"),
        ("42-7KQM-D3XU", "it contains 'U'"),
        ("42-7KQ!-D3X?", "it contains '!?'"),
    ],
)
def test_bad_codes_are_refused_with_the_expected_form(typed: str, says: str) -> None:
    with pytest.raises(PairingFailed) as caught:
        parse_code(typed)
    assert says in caught.value.message
    assert "42-7KQM-D3XA (two digits, then eight letters or digits)" in caught.value.message


def test_a_long_bad_code_is_quoted_short() -> None:
    with pytest.raises(PairingFailed) as caught:
        parse_code("x" * 5000)
    assert len(caught.value.message) < 200


def test_repr_hides_the_secret() -> None:
    code = PairingCode("42", "7KQMD3XA")
    invite = Invite(code, time.time() + 60)
    for text in (repr(code), str(code), repr(invite)):
        assert "7KQM" not in text and "D3XA" not in text
    assert "42" in repr(code)


# -- the safety number ----------------------------------------------------------------------------


def test_the_safety_number_is_symmetric_thirty_digits_and_per_pair() -> None:
    a, b, m = ALICE.fingerprint, BOB.fingerprint, MALLORY.fingerprint
    number = safety_number(a, b)
    assert number == safety_number(b, a)
    groups = number.split(" ")
    assert len(groups) == 6 and all(len(g) == 5 and g.isdigit() for g in groups)
    assert len({number, safety_number(a, m), safety_number(b, m)}) == 3
    flipped = bytes([b[0] ^ 1]) + b[1:]
    assert safety_number(a, flipped) != number


# -- the exchange in memory ------------------------------------------------------------------------


@dataclass
class Exchange:
    """One attempt: both machines and every payload that crossed."""

    invite: Invite
    inviter: InviterPairing
    joiner: JoinerPairing
    sent: dict[str, bytes] = field(default_factory=dict)


def attempt(
    invite: Invite,
    *,
    code: PairingCode | None = None,
    joiner_id: Identity = BOB,
    server_fp: bytes | None = None,
) -> Exchange:
    inviter = InviterPairing(invite, ALICE.fingerprint, "Alice")
    joiner = JoinerPairing(
        code or invite.code,
        joiner_id.cert_der,
        server_fp or ALICE.fingerprint,
        "Bob",
        47601,
    )
    return Exchange(invite, inviter, joiner)


def run_exchange(ex: Exchange) -> tuple[PairedPeer, tuple[str, str]]:
    ex.sent["start"] = ex.joiner.start()
    ex.sent["reply"] = ex.inviter.receive_start(ex.sent["start"])
    ex.sent["confirm"] = ex.joiner.receive_reply(ex.sent["reply"])
    peer = ex.inviter.receive_confirm(ex.sent["confirm"])
    return peer, ex.joiner.receive_done(b"")


def test_a_full_exchange_pairs_both_sides_with_one_safety_number() -> None:
    invite = new_invite(60)
    assert invite.is_open()
    peer, (name, number) = run_exchange(ex := attempt(invite))
    assert peer.fingerprint == BOB.fingerprint and peer.cert == BOB.cert_der
    assert peer.name == "Bob" and peer.port == 47601
    assert name == "Alice"
    assert number == peer.safety_number == safety_number(ALICE.fingerprint, BOB.fingerprint)
    assert invite.state is InviteState.USED and invite.paired == BOB.fingerprint
    assert not invite.is_open()
    # the secret itself never crossed
    for payload in ex.sent.values():
        assert invite.code.secret.encode() not in payload
        assert invite.code.secret.encode() not in base64.b64decode(
            json.loads(payload).get("spake", "")
        )


def test_names_from_the_other_side_are_cleaned() -> None:
    invite = new_invite(60)
    inviter = InviterPairing(invite, ALICE.fingerprint, "Al\x1b[31mice\u202e\n")
    joiner = JoinerPairing(invite.code, BOB.cert_der, ALICE.fingerprint, "[b]Bob[/b]\x07" * 50)
    reply = inviter.receive_start(joiner.start())
    peer = inviter.receive_confirm(joiner.receive_reply(reply))
    name, _ = joiner.receive_done(b"")
    assert name.startswith("Al") and name.endswith("ice")
    assert not any(ch in name for ch in "\x1b\u202e\n")
    assert "\x07" not in peer.name and len(peer.name) <= 100
    assert peer.port is None


def wrong(code: PairingCode) -> PairingCode:
    """The same nameplate and a secret that differs in one character."""
    last = "1" if code.secret[-1] != "1" else "2"
    return PairingCode(code.nameplate, code.secret[:-1] + last)


def test_a_wrong_code_fails_at_the_joiner_and_spends_the_invite() -> None:
    invite = new_invite(60)
    ex = attempt(invite, code=wrong(invite.code))
    reply = ex.inviter.receive_start(ex.joiner.start())
    assert invite.state is InviteState.BUSY
    with pytest.raises(PairingFailed, match="did not match"):
        ex.joiner.receive_reply(reply)
    # the joiner hangs up without confirming: the inviter's attempt is over
    ex.inviter.abandon("the exchange broke off")
    assert invite.state is InviteState.FAILED and invite.paired is None
    # the right code on the same invite is refused: one attempt per invite
    retry = attempt(invite)
    with pytest.raises(PairingFailed, match="no invite is open"):
        retry.inviter.receive_start(retry.joiner.start())
    assert invite.state is InviteState.FAILED


def test_a_confirmation_that_does_not_match_fails_the_inviter() -> None:
    invite = new_invite(60)
    ex = attempt(invite)
    ex.inviter.receive_start(ex.joiner.start())
    forged = json.dumps({"v": 1, "confirm": base64.b64encode(bytes(32)).decode()}).encode()
    with pytest.raises(PairingFailed, match="did not match"):
        ex.inviter.receive_confirm(forged)
    assert invite.state is InviteState.FAILED and "did not match" in invite.reason


def test_a_relaying_man_in_the_middle_fails_key_confirmation() -> None:
    """Mallory terminates the joiner's TLS with her certificate and relays the messages."""
    invite = new_invite(60)
    ex = attempt(invite, server_fp=MALLORY.fingerprint)  # what Bob's TLS handshake showed
    reply = ex.inviter.receive_start(ex.joiner.start())  # relayed unchanged
    with pytest.raises(PairingFailed, match="did not match"):
        ex.joiner.receive_reply(reply)
    ex.inviter.abandon("the exchange broke off")
    assert invite.state is InviteState.FAILED and invite.paired is None


def test_a_man_in_the_middle_substituting_her_certificate_fails_both_ways() -> None:
    invite = new_invite(60)
    ex = attempt(invite, server_fp=MALLORY.fingerprint)
    start = json.loads(ex.joiner.start())
    start["cert"] = base64.b64encode(MALLORY.cert_der).decode()  # so Alice would pin Mallory
    reply = ex.inviter.receive_start(json.dumps(start).encode())
    with pytest.raises(PairingFailed, match="did not match"):
        ex.joiner.receive_reply(reply)
    # even a confirmation Mallory forges cannot pass: she does not know the key
    forged = json.dumps({"v": 1, "confirm": base64.b64encode(b"\x01" * 32).decode()}).encode()
    with pytest.raises(PairingFailed, match="did not match"):
        ex.inviter.receive_confirm(forged)
    assert invite.state is InviteState.FAILED and invite.paired is None


def test_a_man_in_the_middle_running_her_own_spake2_with_a_guess_fails() -> None:
    """Mallory plays joiner toward Alice and inviter toward Bob, both with a guessed code."""
    invite = new_invite(60)
    guess = wrong(invite.code)
    # toward Alice: Mallory joins with her own certificate and the guess
    to_alice = attempt(invite, code=guess, joiner_id=MALLORY)
    reply = to_alice.inviter.receive_start(to_alice.joiner.start())
    with pytest.raises(PairingFailed, match="did not match"):
        to_alice.joiner.receive_reply(reply)
    to_alice.inviter.abandon("the exchange broke off")
    assert invite.state is InviteState.FAILED
    # toward Bob: Mallory opens her own invite with the guess; Bob types the real code
    fake = Invite(guess, time.time() + 60)
    mallory = InviterPairing(fake, MALLORY.fingerprint, "Alice")
    bob = JoinerPairing(invite.code, BOB.cert_der, MALLORY.fingerprint, "Bob")
    with pytest.raises(PairingFailed, match="did not match"):
        bob.receive_reply(mallory.receive_start(bob.start()))


def test_replays_of_a_recorded_exchange_pin_nothing() -> None:
    invite = new_invite(60)
    _, _ = run_exchange(ex := attempt(invite))
    start, confirm = ex.sent["start"], ex.sent["confirm"]

    # (a) the used invite: refused outright
    again = InviterPairing(invite, ALICE.fingerprint, "Alice")
    with pytest.raises(PairingFailed, match="no invite is open .it is used"):
        again.receive_start(start)

    # (b) a fresh invite with the same nameplate and another secret
    other = Invite(PairingCode(invite.nameplate, wrong(invite.code).secret), time.time() + 60)
    machine = InviterPairing(other, ALICE.fingerprint, "Alice")
    machine.receive_start(start)
    with pytest.raises(PairingFailed, match="did not match"):
        machine.receive_confirm(confirm)
    assert other.state is InviteState.FAILED and other.paired is None

    # (c) a fresh invite with the SAME code: our SPAKE2 message is fresh, so is the key
    same = new_invite(60, code=invite.code)
    machine = InviterPairing(same, ALICE.fingerprint, "Alice")
    reply = machine.receive_start(start)
    assert json.loads(reply)["spake"] != json.loads(ex.sent["reply"])["spake"]
    with pytest.raises(PairingFailed, match="did not match"):
        machine.receive_confirm(confirm)
    assert same.state is InviteState.FAILED and same.paired is None


def test_an_expired_or_cancelled_invite_refuses_and_a_new_one_replaces_it() -> None:
    invite = new_invite(60)
    start = JoinerPairing(invite.code, BOB.cert_der, ALICE.fingerprint, "Bob").start()
    late = InviterPairing(invite, ALICE.fingerprint, "Alice")
    with pytest.raises(PairingFailed, match="it is expired"):
        late.receive_start(start, now=time.time() + 61)
    assert invite.state is InviteState.EXPIRED
    assert invite.seconds_left(time.time() + 61) == 0.0

    cancelled = new_invite(60)
    cancelled.state = InviteState.CANCELLED
    joiner = JoinerPairing(cancelled.code, BOB.cert_der, ALICE.fingerprint, "Bob")
    with pytest.raises(PairingFailed, match="it is cancelled"):
        InviterPairing(cancelled, ALICE.fingerprint, "A").receive_start(joiner.start())
    assert cancelled.state is InviteState.CANCELLED
    with pytest.raises(ValueError, match="positive lifetime"):
        new_invite(0)


def test_another_nameplate_is_refused_and_leaves_the_invite_open() -> None:
    invite = new_invite(60)
    other = PairingCode(str(10 + (int(invite.nameplate) - 9) % 90), invite.code.secret)
    assert other.nameplate != invite.nameplate
    ex = attempt(invite, code=other)
    with pytest.raises(PairingFailed, match="names another invite"):
        ex.inviter.receive_start(ex.joiner.start())
    ex.inviter.abandon("the exchange broke off")  # what the link does after any refusal
    assert invite.is_open()
    run_exchange(attempt(invite))  # the real colleague still gets in
    assert invite.state is InviteState.USED


def test_a_joiner_presenting_the_inviters_own_certificate_is_refused() -> None:
    invite = new_invite(60)
    ex = attempt(invite, joiner_id=ALICE)
    with pytest.raises(PairingFailed, match="cannot pair with itself"):
        ex.inviter.receive_start(ex.joiner.start())
    assert invite.state is InviteState.FAILED


def test_another_version_is_refused_in_plain_words() -> None:
    invite = new_invite(60)
    start = json.loads(attempt(invite).joiner.start())
    start["v"] = 2
    with pytest.raises(PairingFailed, match="another pairing version"):
        InviterPairing(invite, ALICE.fingerprint, "A").receive_start(json.dumps(start).encode())


def test_messages_out_of_order_are_refused() -> None:
    invite = new_invite(60)
    ex = attempt(invite)
    with pytest.raises(RemoteProtocolError, match="out of order"):
        ex.inviter.receive_confirm(b"{}")
    invite = new_invite(60)
    ex = attempt(invite)
    with pytest.raises(RemoteProtocolError, match="out of order"):
        ex.joiner.receive_reply(b"{}")
    ex = attempt(invite)
    start = ex.joiner.start()
    with pytest.raises(PairingFailed, match="already started"):
        ex.joiner.start()
    with pytest.raises(RemoteProtocolError, match="out of order"):
        ex.joiner.receive_done(b"")
    ex = attempt(invite)
    start = ex.joiner.start()
    reply = ex.inviter.receive_start(start)
    with pytest.raises(RemoteProtocolError, match="a second PAIR_START"):
        ex.inviter.receive_start(start)
    assert invite.state is InviteState.FAILED
    with pytest.raises(RemoteProtocolError, match="out of order"):
        ex.inviter.receive_confirm(ex.joiner.receive_reply(reply))
    assert invite.paired is None


def test_done_with_a_payload_is_refused() -> None:
    ex = attempt(new_invite(60))
    ex.joiner.receive_reply(ex.inviter.receive_start(ex.joiner.start()))
    with pytest.raises(RemoteProtocolError, match="no payload"):
        ex.joiner.receive_done(b"x")
    with pytest.raises(RemoteProtocolError, match="out of order"):
        ex.joiner.receive_done(b"")


NOT_ON_CURVE = b"B" + bytes(31) + b"\x01"
"""A joiner's side byte and 32 bytes that decode to no point of the curve."""


def _start_with(**changes: Any) -> tuple[Invite, bytes]:
    invite = new_invite(60)
    obj = json.loads(attempt(invite).joiner.start())
    obj.update(changes)
    return invite, json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"x" * (MAX_PAIR_MESSAGE + 1), "over the limit"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
    ],
    ids=["oversized", "not-utf8", "broken-json", "a-list", "a-string"],
)
def test_garbage_requests_are_refused_without_spending_the_invite(
    payload: bytes, says: str
) -> None:
    invite = new_invite(60)
    machine = InviterPairing(invite, ALICE.fingerprint, "A")
    with pytest.raises(RemoteProtocolError, match=says):
        machine.receive_start(payload)
    machine.abandon("the exchange broke off")
    assert invite.is_open()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"spake": None}, "lacks 'spake'"),
        ({"spake": "!!!"}, "not base64"),
        ({"spake": base64.b64encode(b"x" * 32).decode()}, "has 32 bytes, not 33"),
        ({"spake": base64.b64encode(b"\xff" * 33).decode()}, "SPAKE2 message is malformed"),
        ({"spake": base64.b64encode(b"A" + bytes(32)).decode()}, "SPAKE2 message is malformed"),
        ({"spake": base64.b64encode(NOT_ON_CURVE).decode()}, "SPAKE2 message is malformed"),
        ({"cert": ""}, "empty"),
        ({"cert": 5}, "lacks 'cert'"),
        ({"cert": "é"}, "not base64"),
        ({"port": 0}, "impossible port"),
        ({"port": 70000}, "impossible port"),
        ({"port": "80"}, "impossible port"),
        ({"port": True}, "impossible port"),
    ],
)
def test_malformed_fields_are_refused_and_spend_the_invite(
    changes: dict[str, Any], says: str
) -> None:
    invite, payload = _start_with(**changes)
    with pytest.raises(RemoteProtocolError, match=says):
        InviterPairing(invite, ALICE.fingerprint, "A").receive_start(payload)
    assert invite.state is InviteState.FAILED and invite.paired is None


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (b"[]", "not a JSON object"),
        (b"{}", "lacks 'spake'"),
        (b'{"spake": "AAAA"}', "3 bytes, not 33"),
        (
            json.dumps(
                {
                    "spake": base64.b64encode(b"A" + NOT_ON_CURVE[1:]).decode(),
                    "confirm": base64.b64encode(bytes(32)).decode(),
                }
            ).encode(),
            "SPAKE2 message is malformed",
        ),
    ],
)
def test_malformed_replies_fail_the_joiner(reply: bytes, says: str) -> None:
    joiner = attempt(new_invite(60)).joiner
    joiner.start()
    with pytest.raises(RemoteProtocolError, match=says):
        joiner.receive_reply(reply)
    with pytest.raises(RemoteProtocolError, match="out of order"):
        joiner.receive_reply(reply)


def test_the_joiner_needs_a_sha256_server_fingerprint() -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        JoinerPairing(new_code(), BOB.cert_der, b"short", "Bob")


# -- hypothesis: whatever arrives, only SyncError, and nothing pinned without the key -------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_KEYS = ["v", "nameplate", "spake", "cert", "name", "port", "confirm"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_b64_of = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())


def _sized(n: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=n, max_size=n).map(lambda b: base64.b64encode(b).decode())


_point = st.tuples(st.sampled_from([b"A", b"B"]), st.binary(min_size=32, max_size=32)).map(
    lambda sb: base64.b64encode(sb[0] + sb[1]).decode()
)
_field = st.one_of(
    _json, _b64_of, _sized(32), _sized(33), _point, st.just(base64.b64encode(BOB.cert_der).decode())
)


@st.composite
def _objects(draw: st.DrawFn, nameplate: str) -> bytes:
    """JSON objects near the real ones: known keys, sometimes well-formed values."""
    obj = draw(st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), _field, max_size=8))
    if draw(st.booleans()):
        obj["v"] = 1
        obj["nameplate"] = nameplate
    if draw(st.booleans()):  # a SPAKE2 side byte and 32 bytes that often decode to a point
        obj["spake"] = draw(_point)
        obj["cert"] = base64.b64encode(BOB.cert_der).decode()
        obj["confirm"] = draw(_sized(32))
    return json.dumps(obj).encode()


def _payloads(nameplate: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), _objects(nameplate))


_CODE = PairingCode("42", "7KQMD3XA")


def _ready_inviter() -> tuple[InviterPairing, JoinerPairing, bytes]:
    """An inviter waiting for PAIR_CONFIRM, a joiner waiting for PAIR_REPLY, and the reply."""
    invite = Invite(_CODE, time.time() + 3600)
    inviter = InviterPairing(invite, ALICE.fingerprint, "Alice")
    joiner = JoinerPairing(_CODE, BOB.cert_der, ALICE.fingerprint, "Bob")
    reply = inviter.receive_start(joiner.start())
    return inviter, joiner, reply


_READY = _ready_inviter()


def _inviter_copy() -> InviterPairing:
    machine = copy.copy(_READY[0])
    machine.invite = dataclasses.replace(_READY[0].invite)
    return machine


def _refused(call: Callable[[], object]) -> SyncError:
    try:
        result = call()
    except SyncError as exc:
        return exc
    raise AssertionError(f"accepted: {result!r}")


@FUZZ
@given(payload=_payloads(_CODE.nameplate))
def test_fuzz_receive_start_raises_only_sync_errors(payload: bytes) -> None:
    invite = Invite(_CODE, time.time() + 3600)
    machine = InviterPairing(invite, ALICE.fingerprint, "Alice")
    try:
        reply = machine.receive_start(payload)
    except SyncError:
        assert invite.state in (InviteState.OPEN, InviteState.FAILED)
        return
    # a well-formed request with some SPAKE2 point: the key is still needed to get further
    assert invite.state is InviteState.BUSY and json.loads(reply)["spake"]
    _refused(lambda: machine.receive_confirm(b'{"v":1,"confirm":"' + b"A" * 43 + b'="}'))
    assert invite.state is InviteState.FAILED and invite.paired is None


@FUZZ
@given(payload=_payloads(_CODE.nameplate))
def test_fuzz_receive_confirm_never_pins_without_the_key(payload: bytes) -> None:
    machine = _inviter_copy()
    _refused(lambda: machine.receive_confirm(payload))
    assert machine.invite.state is InviteState.FAILED and machine.invite.paired is None
    _refused(lambda: machine.receive_confirm(payload))


@FUZZ
@given(payload=_payloads(_CODE.nameplate))
def test_fuzz_receive_reply_and_done_raise_only_sync_errors(payload: bytes) -> None:
    joiner = copy.deepcopy(_READY[1])
    _refused(lambda: joiner.receive_reply(payload))
    _refused(lambda: joiner.receive_done(b""))  # no safety number after a failed reply
    fresh = copy.deepcopy(_READY[1])
    _refused(lambda: fresh.receive_done(payload))


@FUZZ
@given(payload=st.binary(min_size=1, max_size=200))
def test_fuzz_done_after_a_good_reply_takes_only_an_empty_payload(payload: bytes) -> None:
    joiner = copy.deepcopy(_READY[1])
    joiner.receive_reply(_READY[2])
    _refused(lambda: joiner.receive_done(payload))


def test_the_fuzz_fixtures_do_pair_when_untouched() -> None:
    """The copies the fuzzers start from are live: the honest messages pair them."""
    machine, joiner = _inviter_copy(), copy.deepcopy(_READY[1])
    peer = machine.receive_confirm(joiner.receive_reply(_READY[2]))
    assert peer.fingerprint == BOB.fingerprint and machine.invite.state is InviteState.USED
    assert _READY[0].invite.state is InviteState.BUSY  # the template was not touched


# -- the engine over TLS on 127.0.0.1 -------------------------------------------------------------

FAST = Timeouts(handshake=1.0, partial_frame=1.0, idle=5.0, ping=1.0, connect=1.0)


@contextlib.asynccontextmanager
async def nodes(tmp_path: Path, *names: str) -> AsyncIterator[list[Node]]:
    """Started engines on 127.0.0.1 that dial nobody by themselves, named for pairing."""
    async with cluster(tmp_path) as c:
        yield [await c.add(n, timeouts=FAST, auto_dial=False) for n in names]


async def _anonymous(port: int) -> TlsChannel:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
    await channel.handshake(2.0)
    return channel


async def _read_to_end(channel: TlsChannel, limit: float = 3.0) -> bytes:
    received = b""
    with contextlib.suppress(OSError):
        async with asyncio.timeout(limit):
            while chunk := await channel.read():
                received += chunk
    return received


async def test_pairing_by_code_pins_both_sides_and_the_documents_converge(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        a.edit("d:one", "before-pairing")
        invite = a.engine.open_invite(60)
        assert a.engine.invite is invite
        result = await b.engine.pair(invite.text, "127.0.0.1", a.engine.port)
        assert result.fingerprint == a.fp and result.name == "alice"
        # both trust stores hold the other, with its certificate
        peer_of_a, peer_of_b = a.trust.get(b.fp), b.trust.get(a.fp)
        assert peer_of_a is not None and peer_of_a.trusted and peer_of_a.cert == b.identity.cert_der
        assert peer_of_b is not None and peer_of_b.trusted and peer_of_b.cert == a.identity.cert_der
        assert peer_of_a.name == "bob" and peer_of_b.name == "alice"
        assert invite.state is InviteState.USED and invite.paired == b.fp
        await eventually(lambda: a.of(PairingSucceeded), 3, "the inviter's event")
        (on_a,), (on_b,) = a.of(PairingSucceeded), b.of(PairingSucceeded)
        assert (on_a.role, on_b.role) == ("inviter", "joiner")
        assert on_a.fingerprint == b.fp and on_b.fingerprint == a.fp
        assert on_a.safety_number == on_b.safety_number == result.safety_number
        assert result.safety_number == safety_number(a.fp, b.fp)
        assert not a.of(PairingRefused) and not b.of(PairingRefused)
        # then mutual TLS: edits cross both ways
        await eventually(b.has("d:one", "before-pairing"), 4, "the first sync")
        b.edit("d:one", "from-bob")
        await eventually(a.has("d:one", "from-bob"), 4, "bob's edit at alice")
        a.edit("d:fromalice", "3")
        await eventually(b.has("d:fromalice", "3"), 4, "alice's new document at bob")
        assert "paired with bob" in a.engine.describe(on_a)


async def test_a_wrong_code_fails_spends_the_invite_and_trusts_nobody(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        invite = a.engine.open_invite(60)
        with pytest.raises(PairingFailed, match="did not match"):
            await b.engine.pair(wrong(invite.code), "127.0.0.1", a.engine.port)
        await eventually(lambda: invite.state is InviteState.FAILED, 3, "the spent invite")
        await eventually(lambda: a.of(PairingRefused), 3, "the inviter's refusal")
        assert b.of(PairingRefused) and "did not match" in b.of(PairingRefused)[0].reason
        with pytest.raises(PairingFailed, match="no invite is open there"):
            await b.engine.pair(invite.code, "127.0.0.1", a.engine.port)
        assert invite.state is InviteState.FAILED
        assert a.trust.peers() == [] and b.trust.peers() == []
        assert not a.of(PairingSucceeded) and not b.of(PairingSucceeded)


async def test_another_nameplate_is_refused_and_the_invite_stays_open(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        invite = a.engine.open_invite(60)
        other = PairingCode(str(10 + (int(invite.nameplate) - 9) % 90), invite.code.secret)
        with pytest.raises(PairingFailed, match="no invite is open there"):
            await b.engine.pair(other, "127.0.0.1", a.engine.port)
        await eventually(lambda: a.of(PairingRefused), 3, "the inviter's refusal")
        assert "another invite" in a.of(PairingRefused)[0].reason
        assert invite.is_open()
        await b.engine.pair(invite.code, "127.0.0.1", a.engine.port)
        assert a.trust.is_trusted(b.fp) and b.trust.is_trusted(a.fp)


async def test_with_no_invite_open_a_pairing_request_is_closed(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        joiner = JoinerPairing(new_code(), b.identity.cert_der, a.fp, "bob")
        channel = await _anonymous(a.engine.port)
        channel.write(encode_frame(PAIR_START, joiner.start(), max_frame=MAX_PAIR_MESSAGE + 1))
        await channel.drain()
        assert await _read_to_end(channel) == b""  # closed without a word
        await channel.aclose()
        await eventually(lambda: a.of(PairingRefused), 3, "the refusal")
        assert "no invite is open" in a.of(PairingRefused)[0].reason
        assert a.trust.peers() == []
        # a cancelled invite is no invite
        invite = a.engine.open_invite(60)
        a.engine.cancel_invite()
        assert invite.state is InviteState.CANCELLED
        with pytest.raises(PairingFailed, match="no invite is open there"):
            await b.engine.pair(invite.code, "127.0.0.1", a.engine.port)
        assert a.trust.peers() == [] and b.trust.peers() == []


async def test_a_malformed_spake2_message_spends_the_invite_cleanly(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        invite = a.engine.open_invite(60)
        obj = json.loads(JoinerPairing(invite.code, b.identity.cert_der, a.fp, "bob").start())
        obj["spake"] = base64.b64encode(NOT_ON_CURVE).decode()
        channel = await _anonymous(a.engine.port)
        channel.write(
            encode_frame(PAIR_START, json.dumps(obj).encode(), max_frame=MAX_PAIR_MESSAGE + 1)
        )
        await channel.drain()
        assert await _read_to_end(channel) == b""
        await channel.aclose()
        await eventually(lambda: a.of(PairingRefused), 3, "the refusal")
        assert "SPAKE2 message is malformed" in a.of(PairingRefused)[0].reason
        assert invite.state is InviteState.FAILED  # spent, and not stuck half-way
        assert a.trust.peers() == []


@pytest.mark.parametrize("invite_open", [False, True])
async def test_sync_frames_on_the_anonymous_path_reach_no_document(
    tmp_path: Path, invite_open: bool
) -> None:
    async with nodes(tmp_path, "alice") as (a,):
        a.host.docs["d:private"] = doc_with("diary")
        before = (a.host.digests(), a.host.writes)
        invite = a.engine.open_invite(60) if invite_open else None
        channel = await _anonymous(a.engine.port)
        channel.write(
            hello_frame()
            + manifest_frame({"d:private": "0" * 16})
            + want_frame(["d:private"], ack=0)
            + doc_sync_frame("d:private", b"\x42" + bytes(40))
        )
        await channel.drain()
        received = await _read_to_end(channel)
        await channel.aclose()
        assert received == b""  # not a frame answered
        await eventually(lambda: a.of(PeerRefused), 3, "the refusal")
        assert (a.host.digests(), a.host.writes) == before and a.host.served == []
        assert a.trust.peers() == []
        if invite is not None:
            assert invite.is_open()  # not a pairing request: the invite is untouched


class TlsMiddle:
    """Mallory: terminates the joiner's TLS with her own certificate, dials the inviter
    anonymously, and forwards the pairing frames (optionally putting her certificate in the
    PAIR_START, so that the inviter would pin her)."""

    def __init__(self, target_port: int, substitute: bool) -> None:
        self.target_port = target_port
        self.substitute = substitute
        self.server: asyncio.Server | None = None
        self.port = 0
        self.kinds: list[int] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TlsMiddle:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, src: TlsChannel, dst: TlsChannel, outward: bool) -> None:
        decoder = FrameDecoder(max_frame=MAX_PAIR_MESSAGE + 1)
        try:
            while data := await src.read():
                for frame in decoder.feed(data):
                    self.kinds.append(frame.kind)
                    payload = frame.payload
                    if outward and self.substitute and frame.kind == PAIR_START:
                        obj = json.loads(payload)
                        obj["cert"] = base64.b64encode(MALLORY.cert_der).decode()
                        payload = json.dumps(obj).encode()
                    dst.write(encode_frame(frame.kind, payload, max_frame=MAX_PAIR_MESSAGE + 1))
                    await dst.drain()
        except (OSError, SyncError):
            pass
        finally:
            await dst.aclose(timeout=0.5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(t := asyncio.current_task())  # type: ignore[arg-type]
        down = TlsChannel(reader, writer, server_context(MALLORY, []), server_side=True)
        await down.handshake(2.0)
        up = await _anonymous(self.target_port)
        await asyncio.gather(self._pipe(down, up, True), self._pipe(up, down, False))
        self.tasks.discard(t)  # type: ignore[arg-type]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()


@pytest.mark.parametrize("substitute", [False, True], ids=["relay", "own-certificate"])
async def test_a_tls_terminating_man_in_the_middle_pairs_nobody(
    tmp_path: Path, substitute: bool
) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        invite = a.engine.open_invite(60)
        mallory = await TlsMiddle(a.engine.port, substitute).start()
        try:
            with pytest.raises(PairingFailed, match="did not match"):
                await b.engine.pair(invite.text, "127.0.0.1", mallory.port)
            await eventually(lambda: invite.state is InviteState.FAILED, 3, "the burnt invite")
            await eventually(lambda: a.of(PairingRefused), 3, "the inviter's refusal")
        finally:
            await mallory.stop()
        assert mallory.kinds[:2] == [PAIR_START, 9]  # the exchange did cross her
        assert PAIR_CONFIRM not in mallory.kinds  # Bob never confirmed
        assert a.trust.peers() == [] and b.trust.peers() == []
        assert not a.trust.is_trusted(MALLORY.fingerprint)
        assert not b.trust.is_trusted(MALLORY.fingerprint)
        # and the real code cannot be tried again on the burnt invite
        with pytest.raises(PairingFailed, match="no invite is open there"):
            await b.engine.pair(invite.text, "127.0.0.1", a.engine.port)


# -- how an attempt ends: cancelled meanwhile, hostile input, strangers knocking -----------------


def test_an_invite_cancelled_during_the_attempt_pins_nobody() -> None:
    invite = new_invite(60)
    ex = attempt(invite)
    confirm = ex.joiner.receive_reply(ex.inviter.receive_start(ex.joiner.start()))
    assert invite.state is InviteState.BUSY
    invite.state = InviteState.CANCELLED  # what cancel_invite does to a running attempt
    with pytest.raises(PairingFailed, match="cancelled meanwhile"):
        ex.inviter.receive_confirm(confirm)
    assert invite.state is InviteState.CANCELLED and invite.paired is None


def test_deeply_nested_json_is_refused_as_bad_json() -> None:
    invite = new_invite(60)
    ex = attempt(invite)
    ex.inviter.receive_start(ex.joiner.start())
    with pytest.raises(RemoteProtocolError, match="not valid JSON"):
        ex.inviter.receive_confirm(b"[" * 20000)
    assert invite.state is InviteState.FAILED
    with pytest.raises(RemoteProtocolError, match="not valid JSON"):
        attempt(new_invite(60)).inviter.receive_start(b"[" * 20000)


def test_an_unusable_certificate_is_refused_before_anything_is_pinned() -> None:
    invite = new_invite(60)

    def refuse(_der: bytes) -> None:
        raise ValueError("the certificate expired")

    inviter = InviterPairing(invite, ALICE.fingerprint, "Alice", check_cert=refuse)
    joiner = JoinerPairing(invite.code, BOB.cert_der, ALICE.fingerprint, "Bob")
    with pytest.raises(PairingFailed, match="certificate is unusable: the certificate expired"):
        inviter.receive_start(joiner.start())
    assert invite.state is InviteState.FAILED


async def test_cancelling_while_an_attempt_runs_pins_nobody(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob") as (a, b):
        invite = a.engine.open_invite(60)
        joiner = JoinerPairing(invite.code, b.identity.cert_der, a.fp, "bob")
        channel = await _anonymous(a.engine.port)
        decoder = FrameDecoder(max_frame=MAX_PAIR_MESSAGE + 1)
        channel.write(encode_frame(PAIR_START, joiner.start(), max_frame=MAX_PAIR_MESSAGE + 1))
        await channel.drain()
        frames: list[Any] = []
        while not frames:
            frames = decoder.feed(await channel.read())
        confirm = joiner.receive_reply(frames[0].payload)
        assert invite.state is InviteState.BUSY
        a.engine.cancel_invite()  # the user pressed Cancel while the colleague was typing
        channel.write(encode_frame(PAIR_CONFIRM, confirm, max_frame=MAX_PAIR_MESSAGE + 1))
        await channel.drain()
        assert await _read_to_end(channel) == b""  # no PAIR_DONE
        await channel.aclose()
        await eventually(lambda: a.of(PairingRefused), 3, "the refusal")
        assert a.of(PairingRefused)[0].spent
        assert invite.state is InviteState.CANCELLED
        assert a.trust.peers() == []


async def test_deep_json_spends_the_invite_cleanly_and_a_strangers_knock_is_not_the_attempt(
    tmp_path: Path,
) -> None:
    async with nodes(tmp_path, "alice", "bob", "mallory") as (a, b, m):
        invite = a.engine.open_invite(60)
        joiner = JoinerPairing(invite.code, b.identity.cert_der, a.fp, "bob")
        channel = await _anonymous(a.engine.port)
        channel.write(encode_frame(PAIR_START, joiner.start(), max_frame=MAX_PAIR_MESSAGE + 1))
        await channel.drain()
        decoder = FrameDecoder(max_frame=MAX_PAIR_MESSAGE + 1)
        while not decoder.feed(await channel.read()):
            pass
        assert invite.state is InviteState.BUSY
        # a stranger knocks while the attempt runs: refused, and not reported as the outcome
        with pytest.raises(PairingFailed, match="no invite is open there"):
            await m.engine.pair(invite.code, "127.0.0.1", a.engine.port)
        await eventually(lambda: a.of(PairingRefused), 3, "the stranger's refusal")
        assert not a.of(PairingRefused)[0].spent
        assert invite.state is InviteState.BUSY
        # hostile JSON as the confirmation: the attempt ends cleanly, the invite is spent
        channel.write(encode_frame(PAIR_CONFIRM, b"[" * 20000, max_frame=MAX_PAIR_MESSAGE + 1))
        await channel.drain()
        assert await _read_to_end(channel) == b""
        await channel.aclose()
        await eventually(lambda: len(a.of(PairingRefused)) == 2, 3, "the attempt's refusal")
        assert a.of(PairingRefused)[1].spent
        assert invite.state is InviteState.FAILED
        assert a.trust.peers() == [] and a.engine.running


async def test_a_squatted_nameplate_costs_no_attempt(tmp_path: Path) -> None:
    async with nodes(tmp_path, "alice", "bob", "mallory") as (a, b, m):
        invite = a.engine.open_invite(60)
        # the announcement claimed alice, but mallory listens at the address it gave
        with pytest.raises(PairingFailed, match="not the one that announced the invite"):
            await b.engine.pair(invite.code, "127.0.0.1", m.engine.port, expect=a.fp)
        assert invite.is_open()
        await b.engine.pair(invite.code, "127.0.0.1", a.engine.port, expect=a.fp)
        assert b.trust.is_trusted(a.fp) and not b.trust.is_trusted(m.fp)
