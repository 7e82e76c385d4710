"""Provides ``toast`` and ``withdraw``: a notification that can be taken back before it times out.

``App.notify`` hands back nothing, so a toast such as "Deleted Ada. Press u to undo." stayed on
screen after the undo. ``toast`` shows the same notification (plain text, never markup) and
returns it; ``withdraw`` removes it at once if it is still shown (Textual's toasts remove
themselves the same way when clicked).
"""

from __future__ import annotations

from typing import Any

from textual.notifications import Notification, Notify

from ..model import safe_text


def toast(
    app: Any, message: str, *, title: str = "", severity: str = "information", timeout: float = 5
) -> Notification:
    """Show ``message`` as a notification (literally) for ``timeout`` seconds; returns it."""
    notification = Notification(
        safe_text(message),
        title,
        severity,  # type: ignore[arg-type]
        timeout,
        markup=False,
    )
    app.post_message(Notify(notification))
    return notification


def withdraw(app: Any, notification: Notification | None) -> None:
    """Take ``notification`` off the screen now (nothing if it is gone already)."""
    if notification is None:
        return
    unnotify = getattr(app, "_unnotify", None)
    if callable(unnotify):
        unnotify(notification)
