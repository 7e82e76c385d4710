"""The relay client (``sync.relay``): addresses, tokens, and what a relay that is not one, or
that hangs up, or that cannot be reached, makes of ``meet`` and ``check_relay``."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from sync.relay import (
    RelayAddress,
    RelayError,
    check_relay,
    day,
    meet,
    pairing_token,
    parse_relay,
    peer_token,
    tls_client,
)

pytestmark = pytest.mark.timeout(30)

A, B, C = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("tcp:relay.example:4001", "relay.example", 4001),
        ("relay.example:4001", "relay.example", 4001),
        ("TCP:10.0.0.5:4001", "10.0.0.5", 4001),
        ("tcp:[::1]:4001", "::1", 4001),
        ("  tcp:127.0.0.1:1  ", "127.0.0.1", 1),
    ],
)
def test_relay_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_relay(text) == RelayAddress(host, port)
    assert parse_relay(parse_relay(text).text) == RelayAddress(host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tcp:",
        "relay.example",
        "tcp:relay.example",
        "tcp:relay.example:",
        "tcp:relay.example:http",
        "tcp:relay.example:0",
        "tcp:relay.example:65536",
        "tcp:relay example:4001",
        "tcp:::1:4001",
        "tcp:[::1]4001",
        "ws://relay.example:4001",
        "tcp:relay.example:4001/path",
        "x" * 500,
    ],
)
def test_bad_relay_addresses_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="relay address|port must be") as caught:
        parse_relay(text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 200


def test_peer_tokens_are_the_pairs_own_and_change_daily() -> None:
    secret = b"s" * 32
    token = peer_token(secret, A, B, "2026-12-05")
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert peer_token(secret, B, A, "2026-12-05") == token  # both sides compute the same
    assert peer_token(secret, A, B, "2026-12-06") != token  # it rotates daily
    assert peer_token(b"t" * 32, A, B, "2026-12-05") != token  # only the secret's holders
    assert peer_token(secret, A, C, "2026-12-05") != token  # another pair, another token
    with pytest.raises(ValueError, match="shared secret"):
        peer_token(b"", A, B, "2026-12-05")


def test_pairing_tokens_come_from_the_nameplate_and_the_day() -> None:
    token = pairing_token("42", "2026-12-05")
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert pairing_token("42", "2026-12-05") == token
    assert pairing_token("43", "2026-12-05") != token
    assert pairing_token("42", "2026-12-06") != token
    assert day(0) == "1970-01-01"


def test_exactly_one_side_is_the_tls_client() -> None:
    assert tls_client(A, B) and not tls_client(B, A)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serving(handler: Handler) -> AsyncIterator[RelayAddress]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield RelayAddress("127.0.0.1", server.sockets[0].getsockname()[1])
    finally:
        server.close()


def answering(answer: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(answer)
        await writer.drain()
        writer.close()

    return handle


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "does not speak the transit relay protocol"),
        (b"bad handshake\n", "refused our request"),
        (b"\x16\x03\x01\x02\x00" + b"\x00" * 80, "does not speak the transit relay protocol"),
        (b"", "closed the connection before a peer met us"),
        (b"o", "does not speak the transit relay protocol"),
    ],
)
async def test_a_relay_that_is_not_one_fails_in_one_line(answer: bytes, said: str) -> None:
    async for relay in serving(answering(answer)):
        with pytest.raises(RelayError) as caught:
            await meet(relay, "a" * 64, wait=5)
        assert said in caught.value.message
        assert "\n" not in caught.value.message
        with pytest.raises(RelayError):
            await check_relay(relay, timeout=3)


async def test_an_unreachable_relay_fails_in_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    with pytest.raises(RelayError, match="cannot reach the relay at tcp:127.0.0.1"):
        await meet(RelayAddress("127.0.0.1", port), "a" * 64, wait=2, connect_timeout=2)


async def test_a_silent_relay_is_not_taken_for_one() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async for relay in serving(silent):
        with pytest.raises(TimeoutError):
            await meet(relay, "a" * 64, wait=0.3)
        with pytest.raises(RelayError, match="never matched two connections"):
            await check_relay(relay, timeout=0.5)


async def test_a_token_must_be_64_hex_digits() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        await meet(RelayAddress("127.0.0.1", 1), "not a token")
