"""Provides the peer-to-peer layer of plntui (identity, secure channel, sync session, discovery).

It moves Automerge documents between trusted peers and knows nothing of contacts or of Textual.
"""
