"""Provides the repository synchronizer: sessions per link, and what moves between them.

For every admitted link it makes a ``SyncSession`` over the engine's ``DocumentHost``, drains
the session's events after every read (``process``), and keeps the links in step:

* documents a peer changed are stored by the host before anything is answered; then they are
  offered to every *other* link that shares them (A -> B -> C, within what each link shares);
* documents changed here (``changed``: a local edit, another process's write seen by the poll)
  go to every link that shares them;
* a change of membership (a circle document changed) makes every session send its new
  manifest (``reshare``);
* a batch the guard refused ends its link; the document is not synced with that peer again
  until the engine restarts (``quarantine``), so the next link carries on with the others. A
  peer refused for a newer schema is paused: not dialled, and its links refused, for
  ``PAUSE_SECONDS``.
* introductions: a link to an introducer asks for its peers; a peer that asks gets ours.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import SyncError
from .events import (
    ChangesRefused,
    ChangesStored,
    IntroductionOffered,
    PeerConnected,
    PeerIntroduced,
    PeerSynced,
    StoreFailed,
)
from .link import DialFailed, Link
from .session import (
    Closed,
    DocsReceived,
    Event,
    Ignored,
    InSync,
    IntroductionsReceived,
    PeerHello,
    State,
    SyncSession,
)
from .text import clean_peer_text
from .trust import Introduction, SyncRecord, TrustStoreError, format_hostport

if TYPE_CHECKING:
    from .engine import SyncEngine

PAUSE_SECONDS = 600.0


class Synchronizer:
    """The sessions of an engine's links (see the module docstring)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.quarantine: dict[bytes, set[str]] = {}
        self.paused_until: dict[bytes, float] = {}

    # -- sessions -------------------------------------------------------------------------------

    def session_for(self, fp: bytes, outbound: bool) -> SyncSession:
        engine = self.engine
        peer = engine.trust.get(fp)
        return SyncSession(
            engine.host,
            fp,
            "client" if outbound else "server",
            max_frame=engine.max_frame,
            wants_introductions=peer is not None and peer.introducer,
            skip=self.quarantine.get(fp, ()),
            max_in_flight=engine.limits.max_docs_in_flight,
            batch_bytes=engine.limits.batch_bytes,
        )

    def paused(self, fp: bytes) -> bool:
        until = self.paused_until.get(fp)
        return until is not None and self.engine.now() < until

    def process(self, link: Link) -> None:
        """Drain the session's events: report, relay, answer the peer."""
        engine = self.engine
        session = link.session
        events: list[Event] = []
        error: SyncError | None = None
        failure: BaseException | None = None
        with engine.host.lock:
            try:
                while (next_event := session.next_event()) is not None:
                    events.append(next_event)
            except SyncError as exc:
                error = exc
            except Exception as exc:  # storing failed (a full disk...): nothing was stored
                failure = exc
        if failure is not None:
            with engine.host.lock:
                session.data_to_send()
                session.close("the peer could not store the changes")
            message = f"cannot store the changes from {engine.name_of(link.fp)}: {failure}"
            engine.log.error("%s", message)
            engine.emit(StoreFailed(link.fp, message))
            raise DialFailed(message)
        relay: set[str] = set()
        for event in events:
            self.on_event(link, event)
            if isinstance(event, DocsReceived):
                relay.update(event.doc_ids)
        if relay:
            self.changed(relay, exclude=link)
        self.send(link)
        if events:
            link.pulse()
        if error is not None:
            raise error

    def send(self, link: Link) -> None:
        engine = self.engine
        with engine.host.lock:
            out = link.session.data_to_send()
        link.write(out, engine.now())
        self.after_send(link)

    def after_send(self, link: Link) -> None:
        stats = link.session.stats
        sent = stats.changes_out - link.counted_changes_out
        if sent:
            link.counted_changes_out = stats.changes_out
            self.engine.add_pending(link.fp, SyncRecord(changes_out=sent))
        if link.session.in_sync and not link.in_sync and link.hello_seen:
            self._synced(link)

    def on_event(self, link: Link, event: Event) -> None:
        engine = self.engine
        rt = engine.runtime(link.fp)
        if isinstance(event, PeerHello):
            link.hello_seen = True
            rt.state = "connected"
            rt.last_error = None
            engine.dialer.verified(link)
            if not link.established.done():
                link.established.set_result(None)
            engine.emit(
                PeerConnected(link.fp, engine.name_of(link.fp), link.address, link.outbound)
            )
            if event.wants_introductions:
                self.introduce_to(link)
        elif isinstance(event, IntroductionsReceived):
            self.on_introductions(link, event.entries)
        elif isinstance(event, DocsReceived):
            link.in_sync = False
            link.changes_since_synced += event.changes
            engine.add_pending(link.fp, SyncRecord(changes_in=event.changes))
            engine.emit(ChangesStored(link.fp, event.changes, len(event.doc_ids)))
        elif isinstance(event, InSync):
            self._synced(link)
        elif isinstance(event, Ignored):
            engine.log.info(
                "ignored changes from %s to %s: %s",
                engine.name_of(link.fp),
                event.doc_id,
                event.reason,
            )
        elif isinstance(event, Closed):
            link.reason = link.reason or (
                f"the peer closed the link: {event.reason}" if event.by_peer else event.reason
            )
            if event.refused:
                self._refused(link, event)

    def _synced(self, link: Link) -> None:
        engine = self.engine
        link.in_sync = True
        rt = engine.runtime(link.fp)
        rt.state = "in-sync"
        engine.add_pending(link.fp, SyncRecord(synced_at=_dt.datetime.now(_dt.UTC)))
        engine.emit(PeerSynced(link.fp, link.changes_since_synced))
        link.changes_since_synced = 0

    def _refused(self, link: Link, event: Closed) -> None:
        engine = self.engine
        if event.doc_id:
            self.quarantine.setdefault(link.fp, set()).add(event.doc_id)
        if event.pause:
            self.paused_until[link.fp] = engine.now() + PAUSE_SECONDS
        reason = clean_peer_text(event.refused, ellipsis=True)
        rt = engine.runtime(link.fp)
        rt.last_error = f"refused its changes: {reason}"
        engine.emit(ChangesRefused(link.fp, reason, event.doc_id, event.pause))
        with contextlib.suppress(TrustStoreError, KeyError, ValueError):
            engine.trust.record_error(link.fp, rt.last_error)

    # -- changes here -----------------------------------------------------------------------------

    def changed(self, doc_ids: Iterable[str], exclude: Link | None = None) -> None:
        """Documents changed here (or came from ``exclude``): sync them with every other link."""
        ids = list(doc_ids)
        engine = self.engine
        reshare = any(d.startswith("c:") for d in ids)
        for link in list(engine.links.values()):
            if link is exclude or link.closing or link.session.state is not State.SYNCING:
                continue
            try:
                with engine.host.lock:
                    if reshare:
                        link.session.reshare()
                    link.session.local_change(ids)
                    link.in_sync = link.in_sync and link.session.in_sync
                self.send(link)
            except (SyncError, ssl.SSLError, OSError) as exc:
                from .link import describe_failure

                engine.close_link(link, describe_failure(exc), flush=False)
        if reshare and exclude is not None and not exclude.closing:
            with contextlib.suppress(SyncError, ssl.SSLError, OSError):
                with engine.host.lock:
                    exclude.session.reshare()
                self.send(exclude)

    # -- introducers ------------------------------------------------------------------------------

    def introductions_for(self, fp: bytes) -> tuple[Introduction, ...]:
        """This side's trusted peers as offered to ``fp`` (not ``fp`` itself, not us)."""
        engine = self.engine
        own = engine.identity.fingerprint
        out: list[Introduction] = []
        for peer in engine.trust.peers():
            if not peer.trusted or peer.fingerprint in (own, fp):
                continue
            addresses = tuple(
                format_hostport(*pair) for pair in engine.dialer.addresses(peer.fingerprint)
            )
            out.append(Introduction(peer.fingerprint, peer.name, peer.cert, addresses[:16]))
        return tuple(out)

    def introduce_to(self, link: Link) -> None:
        """Send our trusted peers to a peer that asked, unless it already has this list."""
        engine = self.engine
        if link.closing or engine.trust_error is not None:
            return
        entries = self.introductions_for(link.fp)
        if entries == link.introduced:
            return
        link.introduced = entries
        try:
            link.session.introduce(entries)
        except SyncError as exc:
            engine.log.warning(
                "cannot introduce peers to %s: %s", engine.name_of(link.fp), exc.message
            )

    def introductions_changed(self) -> None:
        """Trust changed: update peers that asked us; reconnect to ask a new introducer."""
        engine = self.engine
        for link in list(engine.links.values()):
            peer_hello = link.session.peer
            if link.closing or peer_hello is None:
                continue
            if peer_hello.wants_introductions:
                self.introduce_to(link)
                with contextlib.suppress(ssl.SSLError, OSError):
                    self.send(link)
            peer = engine.trust.get(link.fp)
            if peer is not None and peer.introducer and not link.session.wants_introductions:
                # HELLO is the only place to ask: a new link asks (the dialler comes back soon)
                engine.close_link(link, "reconnecting to ask for introductions")

    def on_introductions(self, link: Link, entries: tuple[Introduction, ...]) -> None:
        engine = self.engine
        try:
            outcomes = engine.trust.receive_introductions(
                link.fp, entries, own=engine.identity.fingerprint
            )
        except (TrustStoreError, ValueError) as exc:
            engine.log.warning(
                "cannot store the introductions of %s: %s", engine.name_of(link.fp), exc
            )
            return
        for entry, outcome in outcomes:
            if outcome == "offered":
                engine.emit(IntroductionOffered(link.fp, entry.fingerprint, entry.name))
            elif outcome == "trusted":
                engine.emit(PeerIntroduced(link.fp, entry.fingerprint, entry.name))
            else:
                engine.log.info(
                    "%s gave the certificate of %s",
                    engine.name_of(link.fp),
                    engine.name_of(entry.fingerprint),
                )
        if outcomes:
            engine.check_trust()  # new trusted peers: TLS contexts, dialling their addresses
