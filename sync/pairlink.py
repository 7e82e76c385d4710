"""Provides the asyncio side of pairing: both roles of the exchange over one anonymous TLS link.

The protocol and its checks live in ``pairing`` (sans-IO); this module only moves its frames
(``PAIR_START`` … ``PAIR_DONE``) over a ``TlsChannel`` under one deadline, and turns transport
failures into ``PairingFailed`` with plain words. Trust and events are the engine's business.
"""

from __future__ import annotations

import asyncio
import ssl

from .errors import RemoteProtocolError, SyncError
from .framing import Frame, FrameDecoder, encode_frame, kind_name
from .pairing import (
    MAX_PAIR_MESSAGE,
    PAIR_CONFIRM,
    PAIR_DONE,
    PAIR_REPLY,
    PAIR_START,
    InviterPairing,
    JoinerPairing,
    PairedPeer,
    PairingFailed,
)
from .tls import TlsChannel

__all__ = ["FrameReader", "finish", "join", "serve"]


class FrameReader:
    """Frames from a channel one at a time, each at most ``max_payload`` bytes of payload."""

    def __init__(self, channel: TlsChannel, max_payload: int = MAX_PAIR_MESSAGE) -> None:
        self.channel = channel
        self._decoder = FrameDecoder(max_frame=max_payload + 1)
        self._ready: list[Frame] = []

    @property
    def buffered(self) -> int:
        """Bytes or frames received but not taken yet."""
        return self._decoder.buffered + len(self._ready)

    async def next(self) -> Frame | None:
        """The next frame; ``None`` once the peer closed; ``RemoteProtocolError`` if oversized."""
        while not self._ready:
            data = await self.channel.read()
            if not data:
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)


def _frame(kind: int, payload: bytes) -> bytes:
    return encode_frame(kind, payload, max_frame=MAX_PAIR_MESSAGE + 1)


def _expect(frame: Frame | None, kind: int, gone: str) -> bytes:
    if frame is None:
        raise PairingFailed(gone)
    if frame.kind != kind:
        raise RemoteProtocolError(f"expected {kind_name(kind)}, got {kind_name(frame.kind)}")
    return frame.payload


async def serve(
    channel: TlsChannel, reader: FrameReader, start: Frame, machine: InviterPairing, timeout: float
) -> PairedPeer:
    """The inviter's side, from the joiner's ``PAIR_START`` to our ``PAIR_DONE``.

    Returns the peer to pin; the caller pins it and then calls ``finish`` (the joiner pins us
    only once it reads ``PAIR_DONE``). Raises ``PairingFailed`` (the invite is spent).
    """
    try:
        async with asyncio.timeout(timeout):
            reply = machine.receive_start(start.payload)
            channel.write(_frame(PAIR_REPLY, reply))
            await channel.drain()
            confirm = _expect(
                await reader.next(),
                PAIR_CONFIRM,
                "the other device gave up: the code was probably wrong, or someone is in the "
                "middle of the connection",
            )
            return machine.receive_confirm(confirm)
    except PairingFailed:
        machine.abandon("the exchange broke off")
        raise
    except SyncError as exc:
        machine.abandon(exc.message)
        raise PairingFailed(f"the pairing exchange broke the protocol: {exc.message}") from None
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        machine.abandon("the exchange broke off")
        raise PairingFailed(f"the pairing exchange broke off ({_describe(exc)})") from None
    except Exception as exc:  # whatever else a hostile peer provokes spends the invite, cleanly
        machine.abandon("the exchange failed")
        raise PairingFailed(f"the pairing exchange failed ({_describe(exc)})") from None


async def finish(channel: TlsChannel) -> None:
    """The inviter's last word, once the joiner is pinned."""
    channel.write(_frame(PAIR_DONE, b""))
    await channel.drain()


async def join(channel: TlsChannel, machine: JoinerPairing, timeout: float) -> tuple[str, str]:
    """The joiner's side of the whole exchange; returns (the inviter's name, safety number)."""
    reader = FrameReader(channel)
    try:
        async with asyncio.timeout(timeout):
            channel.write(_frame(PAIR_START, machine.start()))
            await channel.drain()
            reply = _expect(
                await reader.next(),
                PAIR_REPLY,
                "the other device closed the connection: no invite is open there (it expired, "
                "was used, or the code names another invite); ask for a new code",
            )
            confirm = machine.receive_reply(reply)
            channel.write(_frame(PAIR_CONFIRM, confirm))
            await channel.drain()
            done = _expect(
                await reader.next(),
                PAIR_DONE,
                "the other device did not accept the confirmation; open a new invite and retry",
            )
            return machine.receive_done(done)
    except PairingFailed:
        raise
    except SyncError as exc:
        raise PairingFailed(f"the other device broke the pairing protocol: {exc.message}") from None
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        raise PairingFailed(f"the pairing exchange broke off ({_describe(exc)})") from None
    except Exception as exc:  # a hostile inviter must not crash the joiner
        raise PairingFailed(f"the pairing exchange failed ({_describe(exc)})") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
