"""Two profiles that share a circle, and what a sync between them does, without sockets.

``share_circle(alice, bob)`` makes the two trust each other and Alice add Bob to a circle of hers
(her default one unless named), which Bob then receives; ``exchange(src, dst)`` sends every
document of the circles both are members of from ``src`` to ``dst``, whole, through ``dst``'s
sync host (``RepoHost.receive_docs``: the guard checks them, then they are stored and indexed),
as the engine does for a document a peer lacks.
"""

from __future__ import annotations

from plntui.network import Network
from plntui.peersync import open_trust
from plntui.sync_host import RepoHost


def fingerprint(net: Network) -> bytes:
    found = net.profile.fingerprint
    assert found is not None
    return found


def exchange(src: Network, dst: Network) -> int:
    """Send ``dst`` the documents of the circles it shares with ``src``; how many were sent."""
    with src.lock:
        circles = src.circles_shared_with(fingerprint(dst))
        ids = sorted(src.repo.storage.manifest(circles))
        docs = [(doc_id, data) for doc_id, data, _digest in src.repo.storage.stored_bytes(ids)]
    host = RepoHost(dst)
    try:
        host.receive_docs(fingerprint(src), docs)
    finally:
        host.close()
    return len(docs)


def share_circle(alice: Network, bob: Network, circle: str | None = None) -> str:
    """Alice and Bob trust each other, Alice adds Bob to ``circle`` (her default circle if
    None) and Bob receives it. Returns the circle's id."""
    open_trust(alice.profile.home).trust(fingerprint(bob), bob.profile.meta.name)
    open_trust(bob.profile.home).trust(fingerprint(alice), alice.profile.meta.name)
    with alice.lock:
        ref = circle or alice.default_circle().id
        added = alice.add_member(ref, fingerprint(bob), bob.profile.meta.name)
    exchange(alice, bob)
    return added.id
