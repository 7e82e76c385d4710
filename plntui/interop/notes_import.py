"""Provides import of notes: a folder of Markdown files, one Markdown file, or plntui's notes JSON.

A folder is read the way Obsidian vaults and Joplin's "Markdown + Front Matter" exports are laid
out, and plntui's own ``export notes --format md`` reads back whole (ids, linked contacts, kinds).
Front matter is parsed by a small reader for the subset those tools write (no YAML dependency):
``key: value`` lines, plain, single- and double-quoted scalars, flow lists ``[a, "b"]``, block
lists ``- a`` (items may be small mappings, as plntui's linked contacts are), and ``|``/``>``
block scalars. Everything is read as text; nothing is evaluated.

The reader hands back :class:`NoteDraft` values, not yet validated: the domain
(``Network.import_notes``) checks them. A file that cannot become a note (unreadable, binary, not
UTF-8, too large) is listed in :attr:`NotesFound.rejected` with a one-line reason, and the rest
import. A path that is none of these raises :class:`ImportFormatError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError
from ..model import NOTE_FIELDS, NOTE_KINDS, normalise_topic

MARKDOWN_SUFFIXES = (".md", ".markdown")
MAX_NOTE_BYTES = 4 * 1024 * 1024
"""A note file larger than this is refused (a body holds at most 1,000,000 characters)."""
MAX_JSON_BYTES = 50 * 1024 * 1024

_SPECS = {spec.name: spec for spec in NOTE_FIELDS}
TITLE_LIMIT = _SPECS["title"].limit
TAG_LIMIT = _SPECS["tags"].limit
MAX_TAGS = _SPECS["tags"].max_items
PRIVATE_ONLY = frozenset(spec.name for spec in NOTE_FIELDS if spec.private_only)
SHAREABLE = frozenset(
    spec.name for spec in NOTE_FIELDS if not spec.private_only and not spec.system
)

_ID_RE = re.compile(r"^[0-9a-f]{4,32}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HEADING_RE = re.compile(r"^ {0,3}#[ \t]+(.*)$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
_INLINE_TAG_RE = re.compile(r"(?<!\S)#([\w/-]+)")
_COMMENT_RE = re.compile(r"[ \t]#")
_WIKI_RE = re.compile(r"^\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]$")
_PLNTUI_INDEX_RE = re.compile(r"# Notes\n\n\d+ notes? exported from plntui\.\n")
_PLNTUI_KEYS = frozenset(
    {"id", "title", "kind", "tags", "contacts", "created", "updated", "author"}
)
_UNKNOWN_CONTACT = "(unknown contact)"

_TITLE_KEYS = ("title",)
_TAG_KEYS = ("tags", "tag", "keywords")
_CREATED_KEYS = ("created", "date created", "created_at", "date")
_UPDATED_KEYS = ("updated", "modified", "date modified", "lastmod", "updated_at")
_ID_KEYS = ("plntui_id", "plntui-id", "plntui id", "id")


@dataclass(slots=True)
class NoteDraft:
    """One note read from a file: raw values keyed by model field names (notes).

    ``values`` may also hold ``"id"`` (a plntui note id, from plntui's own exports, so a
    re-import updates that note), ``"private": True`` (plntui JSON of a private note) and
    ``"contact_refs"`` (linked contacts as ids or names, resolved by the domain). Only
    non-empty values are present, so a re-import never blanks a field. ``source``
    says where it came from, for messages: ``"vault/projects/plan.md"``.
    """

    values: dict[str, Any]
    source: str


@dataclass(slots=True)
class NotesFound:
    """What :func:`read_notes` found: drafts to import, and ``(source, reason)`` pairs refused."""

    drafts: list[NoteDraft] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


class _Refused(Exception):
    """One file cannot become a note; the message is the one-line reason."""


# ---------------------------------------------------------------------------------------------
# entry points


def is_notes_source(path: str | os.PathLike[str]) -> bool:
    """Is ``path`` something :func:`read_notes` reads: a folder, a ``.md``/``.markdown`` file,
    or plntui's notes JSON (detected from the content, whatever the file is called)?

    A missing path ending in ``.md`` counts, so that :func:`read_notes` reports it."""
    target = Path(path)
    try:
        if target.is_dir():
            return True
    except OSError:
        return False
    if target.suffix.lower() in MARKDOWN_SUFFIXES:
        return True
    try:
        if not target.is_file():
            return False
        with target.open("rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"[", b"{"):
        return False
    try:
        return _notes_items(_load_json(target)) is not None
    except ImportFormatError:
        return False


def read_notes(path: str | os.PathLike[str]) -> NotesFound:
    """Read a folder of Markdown notes, one Markdown file, or plntui's notes JSON."""
    target = Path(path)
    try:
        info = target.stat()
    except FileNotFoundError:
        raise ImportFormatError(f"{target}: no such file or folder") from None
    except OSError as err:
        raise ImportFormatError(f"{target}: cannot read it ({_reason(err)})") from None
    if stat.S_ISDIR(info.st_mode):
        return _read_folder(target)
    if target.suffix.lower() in MARKDOWN_SUFFIXES:
        try:
            text = _read_text(target)
        except _Refused as refused:
            raise ImportFormatError(f"{target.name}: {refused}") from None
        if _is_plntui_index(target.name, text):
            raise ImportFormatError(
                f"{target.name} is the table of contents of a plntui export, not a note; "
                "import its folder instead"
            )
        values = parse_markdown_note(text, target.stem, [], _mtime_stamp(info.st_mtime))
        return NotesFound([NoteDraft(values, target.name)], [])
    items = _notes_items(_load_json(target))
    if items is None:
        raise ImportFormatError(
            f"{target.name} is not a notes file: give a folder of Markdown notes, a .md file "
            "or plntui's notes JSON"
        )
    return _json_notes(items, target.name)


# ---------------------------------------------------------------------------------------------
# files and folders


def _reason(err: OSError) -> str:
    return (err.strerror or type(err).__name__).lower()


def _mtime_stamp(mtime: float) -> str:
    """A file's modification time as an ISO 8601 UTC stamp (``""`` for an impossible one)."""
    try:
        moment = _dt.datetime.fromtimestamp(mtime, _dt.UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_bytes(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most ``limit`` bytes, or :class:`_Refused`."""
    too_big = f"larger than {limit // (1024 * 1024)} MB"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("not a regular file")
        if info.st_size > limit:
            raise _Refused(too_big)
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise _Refused(f"cannot read it ({_reason(err)})") from None
    if len(data) > limit:
        raise _Refused(too_big)
    return data, info


def _read_text(path: Path) -> str:
    data, _ = _read_bytes(path, MAX_NOTE_BYTES)
    return _decode(data)


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise _Refused("a binary file, not Markdown text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Refused("not UTF-8 text; save it as UTF-8 first") from None
    sample = text[:65536]
    if len(_CONTROL_RE.findall(sample)) > max(8, len(sample) // 200):
        raise _Refused("a binary file, not Markdown text")
    return text


def _is_plntui_index(name: str, text: str) -> bool:
    """plntui's Markdown export writes an ``index.md`` table of contents next to the notes."""
    return name.lower() == "index.md" and bool(
        _PLNTUI_INDEX_RE.match(text.lstrip("\ufeff").replace("\r\n", "\n"))
    )


def _is_markdown(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(MARKDOWN_SUFFIXES)


def _read_folder(root: Path) -> NotesFound:
    try:
        with os.scandir(root):
            pass
    except OSError as err:
        raise ImportFormatError(f"{root}: cannot open the folder ({_reason(err)})") from None
    label = root.resolve().name or str(root)
    found = NotesFound()
    seen_files = 0

    def unreadable(err: OSError) -> None:
        where = Path(err.filename or root)
        found.rejected.append((_source(label, root, where), f"cannot open ({_reason(err)})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        folder_tags = [normalise_topic(part) for part in here.relative_to(root).parts]
        for name in sorted(f for f in files if _is_markdown(f)):
            seen_files += 1
            path = here / name
            source = _source(label, root, path)
            try:
                data, info = _read_bytes(path, MAX_NOTE_BYTES)
                text = _decode(data)
            except _Refused as refused:
                found.rejected.append((source, str(refused)))
                continue
            if _is_plntui_index(name, text):
                seen_files -= 1
                continue
            values = parse_markdown_note(
                text, Path(name).stem, folder_tags, _mtime_stamp(info.st_mtime)
            )
            found.drafts.append(NoteDraft(values, source))
    if not seen_files and not found.rejected:
        raise ImportFormatError(f"{root} holds no Markdown notes (*.md files)")
    return found


def _source(label: str, root: Path, path: Path) -> str:
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        relative = path.name
    return label if relative in ("", ".") else f"{label}/{relative}"


# ---------------------------------------------------------------------------------------------
# one Markdown note


def parse_markdown_note(
    text: str, stem: str, folder_tags: Iterable[str] = (), mtime: str = ""
) -> dict[str, Any]:
    """The draft values of one Markdown file: front matter, then the body's heading and inline
    tags, then the file name and ``mtime`` as fall-backs. Only non-empty values are present, so
    a re-import never blanks a field the export left out (a private body, say)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    meta, body = split_front_matter(text)
    own_export = meta.keys() >= _PLNTUI_KEYS
    values: dict[str, Any] = {"title": _title(meta, body, stem)}
    if body:
        values["body"] = body
    tags = _tag_list(_first(meta, _TAG_KEYS))
    tags += list(folder_tags)
    if not own_export:
        tags += inline_tags(body)
    if tags := _clean_tags(tags):
        values["tags"] = tags
    kind = _text(meta.get("kind")).lower()
    if kind in NOTE_KINDS:
        values["kind"] = kind
    created = _timestamp(_first(meta, _CREATED_KEYS)) or mtime
    updated = _timestamp(_first(meta, _UPDATED_KEYS)) or mtime or created
    if created and updated and updated < created:
        updated = created
    if created:
        values["created"] = created
    if updated:
        values["updated"] = updated
    note_id = _text(_first(meta, _ID_KEYS)).lower()
    if _ID_RE.match(note_id):
        values["id"] = note_id
    refs = contact_refs(meta.get("contacts"))
    if refs:
        values["contact_refs"] = refs
    return values


def _first(meta: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if meta.get(key) not in (None, "", []):
            return meta[key]
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _title(meta: dict[str, Any], body: str, stem: str) -> str:
    title = " ".join(_text(_first(meta, _TITLE_KEYS)).split())
    if not title:
        title = first_heading(body)
    if not title:
        title = " ".join(stem.split()) or "Untitled"
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1].rstrip() + "…"
    return title


def _prose_lines(body: str) -> Iterable[str]:
    """The lines of a body outside fenced code blocks."""
    fence = ""
    for line in body.split("\n"):
        match = _FENCE_RE.match(line)
        if match is not None:
            marker = match.group(1)
            if not fence:
                fence = marker
                continue
            if marker[0] == fence[0] and len(marker) >= len(fence):
                fence = ""
                continue
        if not fence:
            yield line


def first_heading(body: str) -> str:
    """The text of the first ``# heading`` outside code blocks, or ``""``."""
    for line in _prose_lines(body):
        heading = _HEADING_RE.match(line)
        if heading is None:
            continue
        text = heading.group(1).strip()
        closed = text.rstrip("#")
        if closed != text and (not closed or closed[-1] in " \t"):
            text = closed.strip()  # "# Title ##": the closing hashes are not part of it
        if text:
            return " ".join(text.split())
    return ""


def inline_tags(body: str) -> list[str]:
    """Obsidian's inline ``#tags`` of a body (outside code), in order and once each: a tag has
    at least one letter, so ``#42`` and headings (``# Title``) are not tags."""
    if "#" not in body:
        return []
    text = "\n".join(_prose_lines(body)) if "```" in body or "~~~" in body else body
    if "`" in text:
        text = _INLINE_CODE_RE.sub(" ", text)
    found: list[str] = []
    for raw in dict.fromkeys(_INLINE_TAG_RE.findall(text)):
        tag = raw.strip("/-")
        if tag not in found and any(ch.isalpha() or ch == "_" for ch in tag):
            found.append(tag)
    return found


def _tag_list(value: Any) -> list[str]:
    """Tags as a list: a YAML list, or a string separated by commas (else by spaces)."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, str):
        return value.split(",") if "," in value else value.split()
    return []


def _clean_tags(tags: Iterable[str]) -> list[str]:
    """Normalised, without duplicates, each within the model's limits (longer ones dropped)."""
    kept: list[str] = []
    for raw in tags:
        tag = normalise_topic(raw)
        if tag and len(tag) <= TAG_LIMIT and tag not in kept:
            kept.append(tag)
    return kept[:MAX_TAGS]


def contact_refs(value: Any) -> list[str]:
    """Linked contacts of front matter as ids or names: plntui's ``{name, id}`` pairs give the
    id; plain names and Obsidian links (``"[[Ada Lovelace]]"``) give the name."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    else:
        items = value if isinstance(value, list) else []
    refs: list[str] = []
    for item in items:
        while isinstance(item, list) and len(item) == 1:
            item = item[0]  # [[Ada Lovelace]] unquoted reads as a list in a list
        ref = ""
        if isinstance(item, dict):
            contact_id = _text(item.get("id")).lower()
            name = " ".join(_text(item.get("name")).split())
            if _ID_RE.match(contact_id):
                ref = contact_id
            elif name and name != _UNKNOWN_CONTACT:
                ref = name
        elif isinstance(item, str):
            ref = " ".join(item.split())
            link = _WIKI_RE.match(ref)
            if link:
                ref = " ".join(link.group(1).split())
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def _timestamp(value: Any) -> str:
    """An ISO 8601 UTC stamp for a date or date-time text, or ``""`` when it is not one.
    A time without a zone is taken as UTC (as the model does)."""
    text = _text(value)
    if not text:
        return ""
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return ""
    if not 1900 <= moment.year <= 2200:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# front matter: the YAML subset Obsidian, Joplin and plntui write


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Front matter between a first line ``---`` and the next ``---`` (or ``...``) line, as a
    dict with lower-case keys, and the body after it (one blank line after the block dropped).
    Text without a closed block is all body."""
    if not text.startswith("---"):
        return {}, text
    first, newline, rest = text.partition("\n")
    if first.rstrip() != "---" or not newline:
        return {}, text
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip() in ("---", "..."):
            body = "\n".join(lines[index + 1 :])
            return parse_front_matter(lines[:index]), body.removeprefix("\n")
    return {}, text


def parse_front_matter(lines: list[str]) -> dict[str, Any]:
    """``key: value`` lines (keys lower-cased; a repeated key keeps its last value). Values are
    text, lists and small mappings; anything this reader does not understand is skipped."""
    entries: list[tuple[str, str, list[str]]] = []
    current: tuple[str, str, list[str]] | None = None
    for line in lines:
        if current is not None and (not line.strip() or line[:1] in (" ", "\t", "-")):
            current[2].append(line)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pair = _split_key(line, quoted=True)
        if pair is None:
            current = None
            continue
        current = (pair[0].lower(), pair[1], [])
        entries.append(current)
    meta: dict[str, Any] = {}
    for key, rest, more in entries:
        try:
            meta[key] = _value(rest, more)
        except (ValueError, IndexError, RecursionError):
            continue
    return meta


def _split_key(line: str, quoted: bool = False) -> tuple[str, str] | None:
    """``key: value`` as (key, value text), or ``None``: the key ends at the first colon that
    is followed by a space or the end of the line (``http://x`` is no key)."""
    if not line or line[0] in " \t-#[]{}":
        return None
    if line[0] in "\"'":
        if not quoted:
            return None
        end = line.find(line[0], 1)
        after = line[end + 1 :].lstrip(" \t") if end > 0 else ""
        if not after.startswith(":") or after[1:2] not in ("", " ", "\t"):
            return None
        return line[1:end], after[1:].strip()
    at = line.find(":")
    while at >= 0:
        if at + 1 == len(line) or line[at + 1] in " \t":
            key = line[:at].strip()
            return (key, line[at + 1 :].strip()) if key else None
        at = line.find(":", at + 1)
    return None


def _value(rest: str, more: list[str]) -> Any:
    rest = rest.strip()
    if rest.startswith("!!"):
        rest = rest.partition(" ")[2].strip()
    if not rest:
        content = [line for line in more if line.strip() and not line.lstrip().startswith("#")]
        if not content:
            return None
        head = content[0].lstrip()
        if head == "-" or head.startswith("- "):
            return _block_list(content)
        if _split_key(head) is not None:
            return _block_map(content)
        return _plain(" ".join(line.strip() for line in content))
    if rest[0] in "|>":
        return _block_scalar(rest, more)
    if rest[0] in "[{\"'":
        joined = _fold(rest, more)
        value, _ = _Flow(joined).value(0, top=True)
        return value
    return _plain(_fold(rest, more))


def _fold(rest: str, more: list[str]) -> str:
    """A scalar continued on more lines: line breaks fold to spaces, blank lines to ``\\n``."""
    out = rest
    for line in more:
        out += "\n" if not line.strip() else (" " if not out.endswith("\n") else "") + line.strip()
    return out.rstrip("\n")


def _plain(text: str) -> str | None:
    comment = _COMMENT_RE.search(text)
    if comment is not None:
        text = text[: comment.start()]
    text = text.strip()
    return None if text.lower() in ("~", "null") else text


def _block_list(lines: list[str]) -> list[Any]:
    items: list[list[str]] = []
    indent: int | None = None
    for line in lines:
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if (stripped == "-" or stripped.startswith("- ")) and (indent is None or depth <= indent):
            indent = depth if indent is None else indent
            items.append([stripped[1:].strip()])
        elif items:
            items[-1].append(line)
    return [_list_item(first, rest) for first, *rest in items]


def _list_item(first: str, rest: list[str]) -> Any:
    pair = _split_key(first)
    if pair is None:
        return _value(first, rest)
    mapping = {pair[0].lower(): _value(pair[1], [])}
    mapping.update(_block_map(rest))
    return mapping


def _block_map(lines: list[str]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for line in lines:
        pair = _split_key(line.strip())
        if pair is not None:
            mapping[pair[0].lower()] = _value(pair[1], [])
    return mapping


def _block_scalar(header: str, more: list[str]) -> str:
    """``|`` keeps line breaks, ``>`` folds them; ``-`` strips the final newline, ``+`` keeps
    trailing blank lines."""
    indicators = header[1:].split("#", 1)[0].strip()
    content = list(more)
    depths = [len(line) - len(line.lstrip()) for line in content if line.strip()]
    if not depths:
        return ""
    indent = depths[0]
    lines = [line[indent:] if line.strip() else "" for line in content]
    if header[0] == "|":
        text = "\n".join(lines)
    else:
        text = ""
        for line in lines:
            if not line:
                text += "\n"
            elif text and not text.endswith("\n"):
                text += " " + line
            else:
                text += line
    stripped = text.rstrip("\n")
    if "-" in indicators:
        return stripped
    if "+" in indicators:
        return text + "\n"
    return stripped + "\n"


_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_LENGTH = {"x": 2, "u": 4, "U": 8}


class _Flow:
    """A reader of one flow value: quoted scalars, ``[...]`` lists, ``{...}`` mappings, plain."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _skip(self, at: int) -> int:
        while at < len(self.text) and self.text[at] in " \t\n":
            at += 1
        return at

    def _skip_to(self, at: int, stops: str) -> int:
        """Past stray text after an item (``"a" x,``), to the next separator."""
        while at < len(self.text) and self.text[at] not in stops:
            at += 1
        return at

    def value(self, at: int, top: bool = False, key: bool = False) -> tuple[Any, int]:
        at = self._skip(at)
        if at >= len(self.text):
            return None, at
        char = self.text[at]
        if char == "[":
            return self._list(at + 1)
        if char == "{":
            return self._map(at + 1)
        if char == '"':
            return self._double(at + 1)
        if char == "'":
            return self._single(at + 1)
        if top:
            return _plain(self.text[at:]), len(self.text)
        end = at
        while end < len(self.text) and self.text[end] not in ",]}":
            if key and self.text[end] == ":" and self.text[end + 1 : end + 2] in ("", " ", "\t"):
                break
            end += 1
        return _plain(self.text[at:end]), end

    def _list(self, at: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while True:
            at = self._skip(at)
            if at >= len(self.text) or self.text[at] == "]":
                return items, at + 1
            if self.text[at] == ",":
                at += 1
                continue
            item, at = self.value(at)
            if item is not None:
                items.append(item)
            at = self._skip_to(at, ",]")

    def _map(self, at: int) -> tuple[dict[str, Any], int]:
        mapping: dict[str, Any] = {}
        while True:
            at = self._skip(at)
            if at >= len(self.text) or self.text[at] == "}":
                return mapping, at + 1
            if self.text[at] == ",":
                at += 1
                continue
            name, at = self.value(at, key=True)
            at = self._skip(at)
            item = None
            if at < len(self.text) and self.text[at] == ":":
                item, at = self.value(at + 1)
            if isinstance(name, str):
                mapping[name.lower()] = item
            at = self._skip_to(at, ",}")

    def _double(self, at: int) -> tuple[str, int]:
        out: list[str] = []
        text = self.text
        while at < len(text):
            char = text[at]
            if char == '"':
                return _fix_surrogates("".join(out)), at + 1
            if char == "\\" and at + 1 < len(text):
                code = text[at + 1]
                if code in _HEX_LENGTH:
                    digits = text[at + 2 : at + 2 + _HEX_LENGTH[code]]
                    try:
                        out.append(chr(int(digits, 16)))
                    except ValueError:
                        out.append(code)
                    at += 2 + len(digits)
                    continue
                if code == "\n":
                    at += 2
                    continue
                out.append(_ESCAPES.get(code, code))
                at += 2
                continue
            out.append(char)
            at += 1
        return _fix_surrogates("".join(out)), at

    def _single(self, at: int) -> tuple[str, int]:
        out: list[str] = []
        text = self.text
        while at < len(text):
            if text[at] == "'":
                if text[at + 1 : at + 2] == "'":
                    out.append("'")
                    at += 2
                    continue
                return "".join(out), at + 1
            out.append(text[at])
            at += 1
        return "".join(out), at


def _fix_surrogates(text: str) -> str:
    """``\\ud83d\\ude00`` escapes (JSON style) joined into one character; lone halves become
    U+FFFD."""
    if not any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# ---------------------------------------------------------------------------------------------
# plntui's notes JSON


def _load_json(path: Path) -> Any:
    try:
        data, _ = _read_bytes(path, MAX_JSON_BYTES)
    except _Refused as refused:
        raise ImportFormatError(f"{path.name}: {refused}") from None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ImportFormatError(
            f"{path.name} is not valid JSON (line {err.lineno}: {err.msg})"
        ) from None
    except RecursionError:
        raise ImportFormatError(f"{path.name}: JSON nested too deeply") from None


def _notes_items(data: Any) -> list[Any] | None:
    """The items of plntui's notes JSON (an array of objects with titles and no names, as
    ``export notes --format json`` writes; also ``{"notes": [...]}`` or one note object), or
    ``None`` when ``data`` is something else (contacts have a name)."""
    if isinstance(data, dict):
        if isinstance(data.get("notes"), list):
            data = data["notes"]
        else:
            data = [data]
    if not isinstance(data, list):
        return None
    objects = [item for item in data if isinstance(item, dict)]
    if any("title" in item for item in objects) and not any("name" in item for item in objects):
        return data
    return None


def _json_notes(items: list[Any], name: str) -> NotesFound:
    found = NotesFound()
    for number, item in enumerate(items, 1):
        source = f"{name}: note {number}"
        if not isinstance(item, dict):
            found.rejected.append((source, "not a JSON object"))
            continue
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            found.rejected.append((source, "no title"))
            continue
        found.drafts.append(NoteDraft(_json_values(item), source))
    return found


def _json_values(item: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"title": item["title"]}
    for key in ("body", "kind", "remark", "reminder"):
        if isinstance(item.get(key), str) and item[key]:
            values[key] = item[key]
    if isinstance(item.get("rating"), int) and not isinstance(item["rating"], bool):
        values["rating"] = item["rating"]
    tags = item.get("tags")
    if isinstance(tags, list) and any(isinstance(tag, str) and tag for tag in tags):
        values["tags"] = [tag for tag in tags if isinstance(tag, str)]
    for key in ("created", "updated"):
        stamp = _timestamp(item.get(key))
        if stamp:
            values[key] = stamp
    note_id = _text(item.get("id")).lower()
    if _ID_RE.match(note_id):
        values["id"] = note_id
    refs = contact_refs(item.get("contacts"))
    if refs:
        values["contact_refs"] = refs
    private_fields = item.get("private_fields")
    hidden = (
        {f for f in private_fields if isinstance(f, str)} & SHAREABLE
        if isinstance(private_fields, list)
        else set()
    )
    if item.get("private") is True or hidden:
        # a field kept private must not be shared by an import: keep the whole note private
        values["private"] = True
    return values
