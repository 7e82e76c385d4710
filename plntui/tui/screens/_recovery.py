"""Provides ItemRecovery: the history and the conflicts of the contact or note under the cursor,
and ``u`` to undo a delete made on the screen.

``h`` opens ``HistoryDialog`` (every version; Enter restores one), ``v`` opens
``ConflictDialog`` when a field of the item has values two devices set at once. The detail pane
shows those conflicts (``conflict_lines``): the search index says which items have some
(``SearchIndex.conflict_keys``, read with the list), and only for those are the values read from
the item's document (``Network.conflicts_of``), once per change of the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from ...errors import PlntuiError
from ...model import Record
from ..recovery import conflict_text
from ..toasts import toast, withdraw

if TYPE_CHECKING:
    from ..app import PlntuiApp

LOCK_WAIT = 0.05
"""Seconds the UI thread waits for the network's lock to read a conflict (then shows none)."""


class ItemRecovery:
    """Mix into a list screen with a ``table`` (``RecordTable``); see the module docstring."""

    _conflicted: frozenset[tuple[str, str]] = frozenset()
    _conflict_cache: dict[str, list[dict[str, Any]]]
    _resolve_shown = False
    _deleted: list[Record]
    """What a delete on this screen removed, latest last (``u`` brings back the last)."""
    _undo_toast: Any = None
    """The "Deleted X. Press u to undo." toast, while shown."""

    # -- undoing a delete -----------------------------------------------------------------------

    def deleted_here(self, removed: Record) -> None:
        """A delete on this screen removed ``removed``: ``u`` brings it back."""
        if not hasattr(self, "_deleted"):
            self._deleted = []
        self._deleted.append(removed)
        withdraw(self._app, self._undo_toast)
        self._undo_toast = toast(self._app, f"Deleted {removed.label}. Press u to undo.", timeout=5)
        self.refresh_bindings()  # type: ignore[attr-defined]

    def can_undo(self) -> bool:
        return bool(getattr(self, "_deleted", None))

    def action_undo(self) -> None:
        if not self.can_undo():
            self._app.safe_notify("Nothing to undo.", timeout=3)
            return
        net = self._app.net
        if net is None:
            return
        record = self._deleted.pop()
        restored = self._app.run_edit(net.restore, record)
        self.refresh_bindings()  # type: ignore[attr-defined]
        if restored is None:
            return
        withdraw(self._app, self._undo_toast)
        self._undo_toast = None
        self.want(restored.id)  # type: ignore[attr-defined]
        self._app.safe_notify(f"Restored {restored.label}", timeout=3)

    @property
    def _app(self) -> PlntuiApp:
        return self.app  # type: ignore[attr-defined,no-any-return]

    def set_conflicted(self, items: frozenset[tuple[str, str]]) -> None:
        """The items with conflicts, as the list's read found them; forget the values read."""
        self._conflicted = items
        self._conflict_cache = {}

    def item_conflicts(self, record: Record) -> list[dict[str, Any]]:
        """The conflicts of ``record`` (``Network.conflicts_of``), or [] when it has none."""
        net = self._app.net
        if net is None or (record.collection, record.id) not in self._conflicted:
            return []
        cache = getattr(self, "_conflict_cache", None)
        if cache is None:
            cache = self._conflict_cache = {}
        if record.id in cache:
            return cache[record.id]
        lock = self._app.net_lock
        if not lock.acquire(timeout=LOCK_WAIT):
            return []  # a background task holds the network: the next look reads them
        try:
            found = net.conflicts_of(record)
        except PlntuiError:
            found = []
        finally:
            lock.release()
        cache[record.id] = found
        return found

    def conflict_lines(self, record: Record) -> Text:
        """One warning line per conflicted field, and the key that resolves them."""
        text = Text()
        conflicts = self.item_conflicts(record)
        for conflict in conflicts:
            text.append("⚠ " + conflict_text(record.collection, conflict) + "\n", style="yellow")
        if conflicts:
            text.append("  press v to keep one value\n", style="dim")
        return text

    def _record_now(self) -> Record | None:
        return self.table.current  # type: ignore[attr-defined,no-any-return]

    def before_recovery(self) -> None:
        """Called before a dialog reads the item (the notes screen saves the open note)."""

    def check_recovery(self, action: str) -> bool | None:
        """Whether ``resolve`` applies (the item under the cursor has a conflict), for
        ``check_action``; None for other actions."""
        if action == "resolve":
            record = self._record_now()
            return record is not None and (record.collection, record.id) in self._conflicted
        return None

    def follow_bindings(self) -> None:
        """Show ``v`` in the footer when the item under the cursor has a conflict (the footer
        is redrawn only when that changes: it costs a few milliseconds)."""
        applies = bool(self.check_recovery("resolve"))
        if applies != self._resolve_shown:
            self._resolve_shown = applies
            self.refresh_bindings()  # type: ignore[attr-defined]

    def action_history(self) -> None:
        from ..dialogs.history import HistoryDialog

        record = self._record_now()
        if record is None or self._app.net is None:
            return
        self.before_recovery()

        def restored(found: Record | None) -> None:
            if found is not None:  # the dialog said which version
                self.item_restored(found)

        self._app.push_screen(HistoryDialog(self._app, record), restored)

    def item_restored(self, record: Record) -> None:
        """A version of ``record`` was restored (the list reloads by itself)."""

    def action_resolve(self) -> None:
        from ..dialogs.conflicts import ConflictDialog

        record = self._record_now()
        net = self._app.net
        if record is None or net is None:
            return
        self.before_recovery()
        self._conflict_cache.pop(record.id, None)
        conflicts = self.item_conflicts(record)
        if not conflicts:
            self._app.safe_notify(
                f"{record.label} has no conflicting values.", severity="information", timeout=3
            )
            return

        def chosen(answer: tuple[str, int] | None) -> None:
            if answer is None:
                return
            field, pick = answer
            saved = self._app.run_edit(
                net.resolve_conflict, record.collection, record.id, field, pick
            )
            if saved is not None:
                from ..recovery import field_label, quoted

                self._conflict_cache.pop(record.id, None)
                self._app.safe_notify(
                    f"{saved.label}: {field_label(record.collection, field)} is now "
                    f"{quoted(saved.values.get(field, ''))}, for everyone.",
                    timeout=5,
                )
                self.item_restored(saved)

        self._app.push_screen(ConflictDialog(record, conflicts), chosen)
