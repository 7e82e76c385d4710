"""Provides IndexList: a list screen's rows read from the search index off the UI thread.

A screen that lists every contact or note (10,000 rows) used to read them all again on the UI
thread each time the network changed, its own saves included: 70-150 ms during which nothing
was drawn and no key was handled. ``IndexList.reload`` reads the rows in another thread
instead (``reader``: one for all the lists), holding the network's lock (``Network.lock``)
only while it reads the index; it builds and sorts the rows (``Row``, made lazily: a record is
parsed when shown) outside the lock, and hands the result to the UI thread, which swaps the rows
in (``list_arrived``) keeping the cursor on the same item, the filter and the edit in
progress. Only the first read, when nothing is on screen yet, is done at once (unless a
background task holds the lock).

One read runs at a time: a change heard while the list is read asks for one more read when it
is done (a peer's twenty edits in a row cost two reads, not twenty threads holding a list each).
Each read carries the generation it was asked at, so that ``want(item_id)`` moves the cursor to
an item once a read that has it arrives (an item added a moment ago is not in the list on
screen yet).
"""

from __future__ import annotations

import concurrent.futures
import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from textual.message import Message

from ...catalog import Catalog, Row
from ...errors import PlntuiError

if TYPE_CHECKING:
    from ...network import Network
    from ..app import PlntuiApp


@dataclass(slots=True)
class ListRead:
    """What one read of a list found (immutable once handed to the UI thread)."""

    generation: int
    rows: list[Row]
    sort: tuple[str, bool]
    """The catalog's sort (column, reversed) the rows are in."""
    index: Any
    """The search index the rows came from (its records are read when a row is shown)."""
    device_names: dict[str, str]
    circles: list[dict[str, Any]]
    conflicted: frozenset[tuple[str, str]]
    """``(collection, id)`` of the items with a field two devices set concurrently."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Whatever else the screen asked for (``IndexList.read_extra``), read under the lock."""


class ListReady(Message):
    """A read of a list is done (posted by the reader thread): a ``ListRead``, or the error."""

    def __init__(self, read: ListRead | Exception) -> None:
        super().__init__()
        self.read = read


def sorted_rows(
    columns: tuple[Any, ...],
    entries: list[tuple[str, str, Callable[[], Any]]],
    sorted_by: str,
    sort: tuple[str, bool],
) -> list[Row]:
    """Rows of ``SearchIndex.lazy_rows`` entries (sorted by column ``sorted_by``) in the order
    ``sort`` asks for: a scratch catalog of this thread sorts them when it differs."""
    scratch = Catalog(columns, sort_key=sort[0], sort_reverse=sort[1])
    scratch.load_lazy(entries, sorted_by=sorted_by)
    return scratch.rows


def swap_rows(catalog: Catalog, rows: list[Row]) -> None:
    """Show ``rows`` in ``catalog`` with the filter it has now."""
    query = catalog.query
    catalog.rows = rows
    # apply_filter narrows from the rows shown when the query did not change: start afresh, or
    # an item added or deleted meanwhile would not show or leave under a filter
    catalog.query = ""
    catalog.apply_filter(query)


def conflicted_items(keys: Iterable[tuple[str, str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((collection, item_id) for collection, item_id, _field in keys)


_reader: concurrent.futures.ThreadPoolExecutor | None = None


def reader() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread that reads the lists, for every screen: a thread made for each read
    would leave each its own allocator arena (about 20 MiB more after a peer's 20 edits)."""
    global _reader
    if _reader is None:
        _reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="plntui-lists")
    return _reader


class IndexList:
    """Mix into a ``PlntuiScreen`` with a ``catalog`` listing one collection; see the module
    docstring. Subclasses set ``LIST`` and implement ``list_arrived``."""

    LIST: ClassVar[tuple[str, str]] = ("contacts", "name")
    """The collection listed, and the column the index's order matches."""

    _list_generation = 0
    _list_loaded = False
    _list_reading = False  # a worker reads the list now
    _list_again = False  # the network changed while it read
    _wanted: tuple[str, int, bool] | None = None
    _sort_restored = False
    catalog: Catalog

    @property
    def _papp(self) -> PlntuiApp:
        return self.app  # type: ignore[attr-defined,no-any-return]

    def reload(self) -> None:
        """Read the list again (in a worker once the first rows are on screen)."""
        net = self._papp.net
        if net is None:
            return
        if not self._sort_restored:
            self._sort_restored = True
            self.restore_sort()
        self._list_generation += 1
        generation = self._list_generation
        if self._list_reading:
            self._list_again = True  # one more read when this one is done, not one each
            return
        lock = self._papp.net_lock
        if not self._list_loaded and lock.acquire(blocking=False):
            try:
                read = self._read_list(net, generation, locked=True)
            finally:
                lock.release()
            self._list_read(read)
            return
        self._list_reading = True
        reader().submit(self._read_in_thread, net, generation)

    def _read_in_thread(self, net: Network, generation: int) -> None:
        # Tens of thousands of new objects: no collection pass while they are made (a full one
        # would stop the UI thread too); they are frozen once shown (``_list_read``). What
        # other threads threw away meanwhile is collected first, or it would be frozen too.
        paused = gc.isenabled()
        gc.disable()
        try:
            read: ListRead | Exception = self._read_list(net, generation)
        except Exception as error:  # shown by the UI thread
            read = error
        finally:
            if paused:
                gc.enable()
                gc.collect(1)
        # a message, not call_from_thread: it never waits for a UI that may have closed
        self.post_message(ListReady(read))  # type: ignore[attr-defined]

    def on_list_ready(self, message: ListReady) -> None:
        message.stop()
        if isinstance(message.read, ListRead):
            self._list_read(message.read)
        else:
            self._list_failed(message.read)

    def _read_list(self, net: Network, generation: int, locked: bool = False) -> ListRead:
        """Read under the lock (taken here unless ``locked``), sort outside it."""
        from ...provenance import device_names

        collection, sorted_by = self.LIST
        lock = self._papp.net_lock
        if not locked:
            lock.acquire()
        try:
            index = net.index()
            entries = index.lazy_rows(collection)
            names = device_names(net)
            circles = index.circles()
            conflicted = conflicted_items(index.conflict_keys())
            extra = self.read_extra(net, index)
        finally:
            if not locked:
                lock.release()
        sort = (self.catalog.sort_key, self.catalog.sort_reverse)
        rows = sorted_rows(self.catalog.columns, entries, sorted_by, sort)
        return ListRead(generation, rows, sort, index, names, circles, conflicted, extra)

    # -- the sort, remembered per profile (``settings.json``) -----------------------------------

    def restore_sort(self) -> None:
        """Sort as the list was last sorted on this profile (a column it still has)."""
        from ...settings import list_sort

        found = list_sort(self._papp.home, self.LIST[0])
        if found is not None and any(c.key == found[0] for c in self.catalog.columns):
            self.catalog.sort_key, self.catalog.sort_reverse = found

    def remember_sort(self) -> None:
        """Call after the user sorted the list: the next start sorts it the same way."""
        from ...settings import save_list_sort

        try:
            save_list_sort(
                self._papp.home, self.LIST[0], self.catalog.sort_key, self.catalog.sort_reverse
            )
        except OSError:  # a read-only profile: the sort is only forgotten
            pass

    def read_extra(self, net: Network, index: Any) -> dict[str, Any]:
        """Anything else to read with the list (network lock held; any thread)."""
        return {}

    def _list_read(self, read: ListRead) -> None:
        """A read is done (UI thread): show it (a newer one may follow), start the next one if
        the network changed meanwhile."""
        self._list_reading = False
        self._list_loaded = True
        self.list_arrived(read)
        gc.freeze()  # thousands of long-lived rows: keep full collections off the keystrokes
        again = self._list_again or read.sort != (self.catalog.sort_key, self.catalog.sort_reverse)
        self._list_again = False
        if again:
            self._list_generation -= 1  # the read asked for already, not one more
            self.reload()

    def _list_failed(self, error: Exception) -> None:
        self._list_reading = False
        if isinstance(error, PlntuiError):
            self._papp.report(error)
        else:
            self._papp.safe_notify(
                f"Could not read the list: {error}", title="Error", severity="error"
            )
        if self._list_again:
            self._list_again = False
            self._list_generation -= 1
            self.reload()

    def want(self, item_id: str, focus: bool = True) -> None:
        """Read the list again and show ``item_id`` once it is there (``focus``: the list
        takes the focus then)."""
        self.reload()
        self._wanted = (item_id, self._list_generation, focus)

    def take_wanted(self, read: ListRead) -> tuple[str, bool] | None:
        """The item ``want`` asked for and whether to focus the list, if ``read`` has it; a read
        asked for after ``want`` that does not have it drops the wish (the item is gone)."""
        wanted = self._wanted
        if wanted is None:
            return None
        item_id, generation, focus = wanted
        if any(row.id == item_id for row in read.rows):
            self._wanted = None
            return item_id, focus
        if read.generation >= generation:
            self._wanted = None
        return None

    def list_arrived(self, read: ListRead) -> None:  # pragma: no cover - screens override it
        """Show ``read`` (UI thread): ``swap_rows``, then the screen's own parts."""
        raise NotImplementedError
