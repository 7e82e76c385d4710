"""Provides the command line's output: lines, warnings, JSON, tables, records and progress bars.

Everything that came from the data or a peer goes through ``safe_text`` before it is printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import PlntuiError
from ..model import FIELDS, PROVENANCE_FIELDS, Record, display_value, safe_text


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(f"plntui: {text}\n")


def print_json(value: Any) -> None:
    out(json.dumps(value, indent=2, ensure_ascii=False))


def print_json_list(items: Iterable[Any]) -> None:
    """``print_json(list(items))``, written one item at a time: a list of 100,000 records is
    never all in memory as JSON values and text at once."""
    write = sys.stdout.write
    encode = json.JSONEncoder(indent=2, ensure_ascii=False).encode
    first = True
    for item in items:
        text = encode(item).replace("\n", "\n  ")
        write(("[\n  " if first else ",\n  ") + text)
        first = False
    write("[]\n" if first else "\n]\n")


def handed_out(items: list[Any]) -> Iterator[Any]:
    """Each of ``items`` in order, dropped from the list as it is given out: a list of 100,000
    records printed one by one is freed as it goes instead of held decoded to the end."""
    for n in range(len(items)):
        item, items[n] = items[n], None
        yield item


def print_records(
    records: list[Record],
    *,
    as_json: bool,
    rows: Callable[[Sequence[Record]], list[list[str]]],
    headers: list[str],
    empty: str,
) -> None:
    """What ``contact list`` / ``note list`` print: JSON one record at a time (each dropped once
    printed), or a table, or ``empty`` when there is nothing. Records are decoded here
    (``listed``), with the collector paused."""
    from ..collector import paused

    with paused():
        if as_json:
            print_json_list(r.to_json() for r in handed_out(records))
        elif records:
            table(rows(records), headers)
        else:
            out(empty)


def _progress(total_hint: str) -> Any:
    """A Rich progress bar on a terminal; None when output is piped."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(total_hint),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        console=Console(stderr=True),
    )


def with_progress(label: str, work: Callable[[Callable[[int, int], None] | None], Any]) -> Any:
    bar = _progress(label)
    if bar is None:
        return work(None)
    with bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return work(tick)


def _names(net: Any) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def name(contact_id: str) -> str:
        if contact_id not in cache:
            try:
                cache[contact_id] = net.get("contacts", contact_id).label
            except PlntuiError:
                cache[contact_id] = "(removed)"
        return cache[contact_id]

    return name


def render_record(net: Any, record: Record) -> list[str]:
    name_of = _names(net)
    lines = [
        safe_text(record.label) + ("   [private]" if record.private_item else ""),
        f"  id: {record.id}",
    ]
    if not record.private_item and record.collection != "interactions":
        lines.append(f"  Circle: {safe_text(record.circle_name)}")
    for spec in FIELDS[record.collection].values():
        value = record.values.get(spec.name)
        if (
            value in (None, "", [])
            or spec.name in ("name", "title")
            or spec.name in PROVENANCE_FIELDS
        ):
            continue
        if spec.name == "introduced_by":
            value = f"{name_of(value)} ({value})"
        elif spec.name in ("contacts", "contact"):
            ids = value if isinstance(value, list) else [value]
            value = ", ".join(f"{name_of(i)} ({i})" for i in ids)
        elif spec.name == "body":
            continue
        mark = "  (private)" if record.is_private(spec.name) and not record.private_item else ""
        lines.append(f"  {spec.label}: {safe_text(display_value(value))}{mark}")
    if record.collection in ("contacts", "notes"):
        from ..provenance import provenance

        who = provenance(net, record).line()
        if who:
            lines.append(f"  {who}")
    for source in record.sources:
        via = source.get("via", "")
        differing = source.get("differing") or []
        values = source.get("values") or {}
        extra = "; ".join(f"{k}={display_value(values.get(k))}" for k in differing)
        lines.append(
            f"  merged from {safe_text(via)}"
            + (f" {source.get('merged_id')}" if source.get("merged_id") else "")
            + (f" {safe_text(source.get('source', ''))}" if source.get("source") else "")
            + (f" — other values: {safe_text(extra)}" if extra else "")
        )
    if record.collection == "notes" and record.values.get("body"):
        lines.append("")
        lines.append(safe_text(record.values["body"]))
    return lines


def table(rows: list[list[str]], headers: list[str]) -> None:
    if not rows:
        return
    from ..cells import cell_len, fit

    widths = [cell_len(h) for h in headers]
    cap = [12, 28, 24, 40, 40]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], cell_len(cell)), cap[i] if i < len(cap) else 40)
    out("  ".join(fit(h, w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        out("  ".join(fit(c, w) for c, w in zip(row, widths, strict=True)).rstrip())


def contact_rows(records: Sequence[Record]) -> list[list[str]]:
    return [
        [
            r.id,
            safe_text(r.label),
            safe_text(r.values.get("org", "")),
            safe_text(", ".join(r.values.get("topics", []))),
            _circle_cell(r),
        ]
        for r in records
    ]


def _circle_cell(record: Record) -> str:
    return "(private)" if record.private_item else safe_text(record.circle_name)


def note_rows(records: Sequence[Record]) -> list[list[str]]:
    return [
        [
            r.id,
            safe_text(r.label),
            safe_text(r.values.get("kind", "") or "note"),
            safe_text(", ".join(r.values.get("tags", []))),
            _circle_cell(r),
        ]
        for r in records
    ]
