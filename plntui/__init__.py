"""Provides plntui: a professional learning network kept in a local CRDT, synced peer to peer."""

__version__ = "0.1.0"
