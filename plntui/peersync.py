"""Provides the glue between a profile and the peer-to-peer layer (``sync``).

``sync`` moves Automerge documents between trusted peers and knows nothing of contacts; this
module runs its engine over the profile's repository (``sync_host.RepoHost``: the documents of
the circles each peer shares, never the private side), with the profile's identity and trust
store. ``SyncRunner`` is the one headless sync host, used alike by ``plntui sync``, ``plntui
pair`` and the app: it falls back to a free port when another profile holds the default one,
keeps syncing when LAN discovery cannot start, and adds a colleague paired by code to a circle.

The runner also tells the engine which transit relay to meet peers at (``relay_config``: the
profile's setting, else a circle's) and the circle secrets it shares with each peer; it follows
a change of either while it runs (the profile's ``settings.json``, checked on every poll, and
every circle document that changes), and gives the circles this device is in a secret when a
relay is in use and one has none yet.

Files in the profile folder: ``identity/key.pem`` (mode 0600) and ``identity/cert.pem``, the
device's long-term key and self-signed certificate; ``peers.json``, the peers you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .network import Network


def identity_folder(home: Path) -> Path:
    return home / "identity"


def trust_path(home: Path) -> Path:
    return home / "peers.json"


def load_identity(home: Path) -> Any:
    """The device's identity, made on first use."""
    from sync.identity import Identity

    return Identity.load_or_create(identity_folder(home))


def public_fingerprint(home: Path) -> bytes | None:
    """The fingerprint peers pin (SHA-256 of the DER certificate), read from the public
    ``cert.pem`` alone (the key is never read here), or None when the profile has no identity
    yet or its certificate does not decode (``load_identity`` reports that, when syncing)."""
    import base64
    import binascii

    from sync.fingerprint import fingerprint_of

    try:
        pem = (identity_folder(home) / "cert.pem").read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if begin not in pem or end not in pem:
        return None
    body = pem.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return fingerprint_of(der)


def held_notice(net: Network, batch: Any) -> str:
    """ "Bob's device deleted 4,012 contacts in circle Data team" (plain text)."""
    from .model import safe_text
    from .provenance import device_label

    counts: dict[str, int] = {}
    for item in batch.deletes:
        counts[item.collection] = counts.get(item.collection, 0) + 1
    what = " and ".join(
        f"{n:,} {collection if n != 1 else collection[:-1]}"
        for collection, n in sorted(counts.items())
    )
    return (
        f"{safe_text(device_label(net, batch.author))}'s device deleted {what or 'items'} in "
        f"circle {safe_text(net.circle_name(batch.circle))}; held until you decide"
    )


def open_trust(home: Path) -> Any:
    from sync.trust import TrustStore

    return TrustStore(trust_path(home))


DEFAULT_PORT = 47600
SETTLE_SECONDS = 1.0
"""How long ``find_inviter`` keeps looking once one inviter is found."""


class SyncRunner:
    """The engine over the profile, with LAN discovery, until stopped (see the docstring)."""

    def __init__(
        self,
        net: Network,
        *,
        listen_host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        discovery: bool = True,
        interfaces: list[str] | None = None,
        log: Any = print,
        on_seen: Any = None,
        fallback_port: bool = True,
        listen: bool = True,
        pair_circle: str | None = None,
    ) -> None:
        """``on_seen`` receives discovery's events too, on the engine's event loop.
        ``fallback_port``: when ``port`` is taken, listen on any free port (discovery announces
        it). ``pair_circle``: the circle a colleague paired by code joins (default: the default
        circle)."""
        from sync.engine import SyncEngine

        from .relay_config import effective_relay
        from .settings import stamp
        from .sync_host import RepoHost

        self.net = net
        self.log = log
        self.on_seen = on_seen
        self.fallback_port = fallback_port
        self.pair_circle = pair_circle
        self.identity = load_identity(net.profile.home)
        self.trust = open_trust(net.profile.home)
        self.host = RepoHost(net)
        self.host.listeners.append(self._repo_changed)
        self.host.on_joined.append(self._joined)
        self.host.on_held.append(self._held)
        self._settings_stamp = stamp(net.profile.home)
        self._circles_changed = False
        self.relay_setting = effective_relay(net)
        """The relay in use and where it comes from (``relay_config.EffectiveRelay``)."""
        self.engine = SyncEngine(
            self.host,
            self.identity,
            self.trust,
            listen_host=listen_host,
            port=port,
            on_event=self._event,
            poll=self._poll,
            name=net.profile.meta.name,
            on_paired=self._paired,
            listen=listen,
            relay=self.relay_setting.relay,
            relay_secrets=self._relay_secrets,
        )
        self.listeners: list[Any] = []
        """Called with every engine event (on the engine's loop) after it is logged."""
        self.use_discovery = discovery
        if interfaces is None and listen_host not in ("0.0.0.0", "::"):
            interfaces = [listen_host]  # announce the address we listen on, and only it
        self.interfaces = interfaces
        self.discovery: Any = None
        self.warning = ""
        """What works less well than asked ("discovery off: <reason>", a fallback port)."""

    def _event(self, event: Any) -> None:
        self.log(self.engine.describe(event))
        for listener in list(self.listeners):
            listener(event)

    def _repo_changed(self, origin: str, doc_ids: frozenset[str]) -> None:
        # A write of this process (the app, a pairing): push it. Other processes' writes come
        # through the engine's poll; a peer's changes are relayed by the synchronizer.
        if any(doc_id.startswith("c:") for doc_id in doc_ids):
            self._circles_changed = True  # the relay setting or a shared secret may have too
        if origin == "local" and self.engine.running:
            self.engine.changed(doc_ids)

    # -- the relay ----------------------------------------------------------------------------

    def _relay_secrets(self, peer: bytes) -> list[bytes]:
        """The circle secrets shared with ``peer`` (the engine asks from its own thread)."""
        from .relay_config import relay_secrets

        return relay_secrets(self.net, peer)

    def _poll(self) -> frozenset[str]:
        """The engine's poll (on a worker thread): other processes' writes, then the relay
        setting, when the settings file or a circle changed."""
        changed = self.net.repo.poll()
        try:
            self.follow_relay()
        except Exception as exc:  # what the poll found must still reach the engine
            self.log(f"cannot read the relay setting: {exc}")
        return changed

    def follow_relay(self) -> None:
        """Tell the engine when the relay setting changed, and when a circle did (a shared
        secret may have arrived: the engine then looks at the secrets again)."""
        from .relay_config import effective_relay
        from .settings import stamp

        now = stamp(self.net.profile.home)
        circles = self._circles_changed
        if now == self._settings_stamp and not circles:
            return
        self._settings_stamp = now
        self._circles_changed = False
        before, after = self.relay_setting, effective_relay(self.net)
        self.relay_setting = after
        if after.relay != before.relay:
            self.log(f"relay: {after.describe()}")
            if after.relay is not None:
                self._ensure_secrets()
        elif not circles or after.relay is None:
            return
        self.engine.set_relay(after.relay)

    def _ensure_secrets(self) -> None:
        """With a relay in use: every circle this device is in gets a secret, if it has none."""
        from .errors import PlntuiError

        try:
            self.net.ensure_circle_secrets()
        except PlntuiError as exc:  # a busy or full disk: tried again at the next start
            self.log(f"cannot give the circles a relay secret: {exc.message}")

    def _joined(self, circle: Any, peer: bytes) -> None:
        from .model import safe_text

        self.log(
            f"{safe_text(self.engine.name_of(peer))} added you to circle "
            f"{safe_text(circle.name)}; leave it with: plntui circle leave {circle.id}"
        )

    def _held(self, batch: Any) -> None:
        self.log(held_notice(self.net, batch) + ": review it with plntui held")

    def _paired(self, fingerprint: bytes, name: str, role: str) -> None:
        """A colleague paired by code: the inviter adds it to the circle it invited into."""
        if role != "inviter" and self.pair_circle is None:
            return
        with self.net.lock:
            circle = self.pair_circle or self.net.default_circle().id
            self.net.add_member(circle, fingerprint, name or None)

    def _seen(self, event: Any) -> None:
        """Discovery hints: dial trusted fingerprints there (the handshake proves who answers)."""
        peer = event.peer
        if self.on_seen is not None:
            self.on_seen(event)
        if not self.trust.is_trusted(peer.fingerprint):
            if event.kind == "added":
                self.log(f"found {peer.name} ({peer.short_fingerprint}), not trusted: ignored")
            return
        for host, port in peer.endpoints():
            if event.kind == "removed":
                self.engine.forget_address(peer.fingerprint, host, port)
            else:
                self.engine.connect(peer.fingerprint, host, port)
        if event.kind == "added":
            self.log(
                f"found {peer.name} ({peer.short_fingerprint}) at "
                f"{', '.join(a for a in peer.addresses)}:{peer.port}"
            )
        elif event.kind == "removed":
            self.log(f"{peer.name} ({peer.short_fingerprint}) is gone from the network")

    async def start(self) -> None:
        """Start the engine (on a free port when the one asked for is taken and
        ``fallback_port``), then discovery; when only discovery fails, sync goes on without it
        (``warning`` says why). On any other failure nothing is left listening."""
        import errno

        try:
            await self.engine.start()
        except OSError as exc:
            if not (exc.errno == errno.EADDRINUSE and self.fallback_port and self.engine.port):
                raise
            asked = self.engine.port
            self.engine._port = 0
            await self.engine.start()
            self.warning = (
                f"port {asked} is taken (another profile syncs on this machine): listening on "
                f"{self.engine.port}"
            )
            self.log(self.warning)
        self.log(
            f"listening on {self.engine.listen_host}:{self.engine.port} as "
            f"{self.net.profile.meta.name} ({self.identity.fingerprint_text})"
        )
        if self.relay_setting.relay is not None:
            self._ensure_secrets()
            self.log(f"relay: {self.relay_setting.describe()}")
        if self.use_discovery:
            from sync.discovery import Discovery

            self.discovery = Discovery(
                self.net.profile.meta.name,
                self.identity.fingerprint,
                self.engine.port,
                on_change=self._seen,
                interfaces=self.interfaces,
                prefer=self.trust.is_trusted,
            )
            try:
                await self.discovery.start()
            except Exception as exc:
                discovery, self.discovery = self.discovery, None
                try:
                    await discovery.stop()
                except Exception:  # noqa: S110 - stopping a half-started discovery
                    pass
                reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                self.warning = f"discovery off: {reason}"
                self.log(f"LAN discovery could not start ({reason}); syncing without it")

    # -- pairing by code ----------------------------------------------------------------------

    async def open_invite(self, ttl: float | None = None, circle: str | None = None) -> Any:
        """Open an invite on the engine and announce its nameplate on the LAN; the colleague
        who pairs joins ``circle`` (default: ``pair_circle``, else the default circle)."""
        if circle is not None:
            self.pair_circle = circle
        invite = self.engine.open_invite() if ttl is None else self.engine.open_invite(ttl)
        if self.discovery is not None:
            await self.discovery.set_pairing(invite.nameplate)
        return invite

    async def close_invite(self) -> None:
        self.engine.cancel_invite()
        if self.discovery is not None:
            await self.discovery.set_pairing(None)

    async def find_inviter(self, nameplate: str, timeout: float) -> list[Any]:
        """The devices announcing an open invite with ``nameplate``, waiting up to ``timeout``."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [] if self.discovery is None else self.inviters(nameplate)
            if found:
                # a moment more, so that a second device announcing the same nameplate (a
                # collision, or someone squatting it) is seen too and nothing is tried blindly
                await asyncio.sleep(min(SETTLE_SECONDS, max(0.0, deadline - loop.time())))
                return self.inviters(nameplate)
            if loop.time() >= deadline:
                return found
            await asyncio.sleep(0.1)

    def inviters(self, nameplate: str) -> list[Any]:
        if self.discovery is None:
            return []
        own = self.identity.fingerprint
        return [
            peer
            for peer in self.discovery.peers().values()
            if peer.pairing == nameplate and peer.fingerprint != own
        ]

    async def pair(
        self,
        code: str,
        host: str,
        port: int,
        remember: bool = False,
        expect: bytes | None = None,
    ) -> Any:
        """Pair with the device at ``host:port`` (``sync.engine.SyncEngine.pair``).

        ``expect``: the fingerprint the announcement that led there claimed.
        """
        return await self.engine.pair(code, host, port, remember_address=remember, expect=expect)

    async def pair_relayed(self, code: str, timeout: float) -> Any:
        """Pair through the relay with the device whose invite shows ``code``
        (``sync.engine.SyncEngine.pair_relayed``)."""
        return await self.engine.pair_relayed(code, timeout)

    async def stop(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
        await self.engine.stop()
        self.host.close()
