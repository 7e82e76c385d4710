"""Provides export of shared notes: a folder of Markdown files, one self-contained HTML page, JSON.

Markdown files carry YAML front matter written by a tiny emitter: every string double-quoted with
escapes (the quoted scalars are valid JSON strings too), lists in flow style, linked contacts as
name + id pairs. The HTML page needs nothing but itself: inline CSS, no scripts, no external
resources (a Content-Security-Policy forbids them too). Note bodies are rendered from Markdown by
markdown-it-py with the GFM plugins of mdit-py-plugins (tables, task lists, footnotes,
strikethrough, alerts, autolinks), as GitHub shows them, with raw HTML escaped (``html=False``):
a ``<script>`` in a note is text on the page. Links are kept only for http(s) and mailto
addresses, anything else (``javascript:``...) stays visible as plain text; images become links to
them. Notes name their author by the device's registered name (front matter ``author:``, the
page's "by …"); the JSON export keeps the ids.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..model import NOTE_KINDS, Record
from . import with_author_names

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

_REL = "noopener noreferrer nofollow"
_SAFE_URL_RE = re.compile(r"(?:https?://[^\s/?#]|mailto:[^\s@]+@)", re.I)
_KIND_TITLES = {
    "note": "Notes",
    "resource": "Resources",
    "template": "Templates",
    "review": "Reviews",
}
_CSS = """
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d232a;background:#fbfbfa}
header,nav,main{max-width:50rem;margin:0 auto;padding:0 1.25rem}
header{padding-top:2rem}h1{margin:0 0 .25rem}
nav{border-bottom:1px solid #ddd;padding-bottom:1rem}nav ol{padding-left:1.25rem}
article{border-bottom:1px solid #ddd;padding:1.25rem 0}
.meta,.muted{color:#5b6570;font-size:.9rem}
.tags{list-style:none;padding:0;margin:.25rem 0}
.tags li{display:inline-block;background:#e8eef5;border-radius:.75rem;padding:0 .6rem;
margin:0 .3rem .3rem 0;font-size:.85rem}
pre{background:#f0f0ee;padding:.75rem;overflow-x:auto;border-radius:.25rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:1rem;color:#444}
a{color:#0b57a4}
table{border-collapse:collapse;margin:.75rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25rem .6rem}th{background:#f0f0ee}
.contains-task-list{list-style:none;padding-left:1.25rem}
.task-list-item-checkbox{margin:0 .4rem 0 -1.25rem}
.footnotes{font-size:.9rem}.footnotes-sep{border:0;border-top:1px solid #ddd}
.markdown-alert{border-left:3px solid #0b57a4;padding-left:1rem}
.markdown-alert-title{font-weight:600}
@media (prefers-color-scheme:dark){body{background:#16191d;color:#dde2e7}
.tags li{background:#263340}pre{background:#22262b}a{color:#7db4f0}
.meta,.muted{color:#9aa4ae}blockquote{color:#bbb}th{background:#22262b}th,td{border-color:#444}}
"""


# ---------------------------------------------------------------------------------------------
# JSON


def notes_to_json(notes: list[Record]) -> str:
    """A JSON array of the notes as ``Record.to_json()`` gives them."""
    return json.dumps([note.to_json() for note in notes], indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Markdown folder


def export_notes_markdown(
    notes: list[Record],
    contacts: dict[str, Record],
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write one ``<slug>-<id>.md`` per note and an ``index.md``; return the written paths.
    ``progress(done, total)`` is called after each note; ``names`` (device id -> registered
    name) names the authors."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValidationError(f"{out_dir} is a file; give a folder for the Markdown export")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or err
        raise ValidationError(f"cannot create the folder {out_dir}: {reason}") from None
    written: list[Path] = []
    files: dict[str, str] = {}
    taken: set[str] = set()
    notes = with_author_names(notes, names)
    for done, note in enumerate(_sorted(notes), 1):
        name = _file_name(note, taken)
        files[note.id] = name
        taken.add(name)
        written.append(_write(out_dir / name, _note_markdown(note, contacts)))
        if progress is not None:
            progress(done, len(notes))
    written.append(_write(out_dir / "index.md", _index_markdown(_sorted(notes), files)))
    return written


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as err:
        raise ValidationError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def _sorted(notes: list[Record]) -> list[Record]:
    return sorted(notes, key=lambda note: (str(note["title"]).casefold(), note.id))


def slugify(text: str, limit: int = 60) -> str:
    """Lower-case ASCII words joined by hyphens: ``"Café: RFC #1"`` -> ``"cafe-rfc-1"``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return slug[:limit].rstrip("-")


def _file_name(note: Record, taken: set[str]) -> str:
    stem = f"{slugify(str(note['title'])) or 'note'}-{slugify(note.id, 32) or 'x'}"
    name, counter = f"{stem}.md", 2
    while name in taken or name == "index.md":
        name, counter = f"{stem}-{counter}.md", counter + 1
    return name


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (also a valid JSON string) for any text."""
    return '"' + _YAML_ESCAPED.sub(_yaml_char, value) + '"'


# Every character a double-quoted YAML scalar cannot hold as it is.
_YAML_ESCAPED = re.compile('["\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\ufeff\ufffe\uffff]')
_YAML_SPECIAL = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _yaml_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _YAML_SPECIAL:
        return _YAML_SPECIAL[char]
    code = ord(char)
    if (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
    ):
        return f"\\u{code:04x}"
    return char


def _yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(yaml_string(str(item)) for item in items) + "]"


def _contact_name(contacts: dict[str, Record], contact_id: str) -> str:
    contact = contacts.get(contact_id)
    return contact.label if contact is not None else "(unknown contact)"


def _front_matter(note: Record, contacts: dict[str, Record]) -> list[str]:
    lines = ["---", f"id: {yaml_string(note.id)}"]
    lines += [f"{key}: {yaml_string(str(note[key] or ''))}" for key in ("title", "kind")]
    lines.append(f"tags: {_yaml_list(list(note['tags']))}")
    linked = list(note["contacts"])
    lines.append("contacts:" if linked else "contacts: []")
    for contact_id in linked:
        lines.append(f"  - name: {yaml_string(_contact_name(contacts, str(contact_id)))}")
        lines.append(f"    id: {yaml_string(str(contact_id))}")
    lines += [
        f"{key}: {yaml_string(str(note[key] or ''))}" for key in ("created", "updated", "author")
    ]
    return [*lines, "---"]


def _note_markdown(note: Record, contacts: dict[str, Record]) -> str:
    body = str(note["body"] or "")
    if body and not body.endswith("\n"):
        body += "\n"
    return "\n".join(_front_matter(note, contacts)) + "\n\n" + body


def markdown_text(text: str) -> str:
    """Plain text made safe inside Markdown: one line, Markdown punctuation backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", " ".join(text.split()))


def _kind(note: Record) -> str:
    return str(note["kind"] or "note")


def _index_markdown(notes: list[Record], names: dict[str, str]) -> str:
    lines = ["# Notes", "", f"{_count(len(notes))} exported from plntui.", ""]
    kinds = [k for k in NOTE_KINDS if any(_kind(n) == k for n in notes)]
    kinds += sorted({_kind(n) for n in notes} - set(kinds))
    for kind in kinds:
        lines += [f"## {markdown_text(_KIND_TITLES.get(kind, kind.capitalize()))}", ""]
        for note in (n for n in notes if _kind(n) == kind):
            entry = f"- [{markdown_text(str(note['title'])) or 'Untitled'}]({names[note.id]})"
            if note["tags"]:
                entry += " — tags: " + ", ".join(markdown_text(str(t)) for t in note["tags"])
            lines.append(entry)
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# HTML page


def _count(number: int) -> str:
    return f"{number} note" if number == 1 else f"{number} notes"


def notes_to_html(
    notes: list[Record],
    contacts: dict[str, Record],
    title: str = "Shared notes",
    names: Mapping[str, str] | None = None,
) -> str:
    """One self-contained HTML page of the notes with a table of contents; ``names`` (device
    id -> registered name) names the authors."""
    ordered = _sorted(with_author_names(notes, names))
    anchors = {
        note.id: f"note-{slugify(note.id, 32) or index}" for index, note in enumerate(ordered)
    }
    parts = [
        _html_head(title),
        "<body>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="muted">{_count(len(ordered))} exported from plntui.</p></header>',
        _html_toc(ordered, anchors),
        "<main>",
        *(_html_note(note, contacts, anchors[note.id]) for note in ordered),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_head(title: str) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
            '<meta name="referrer" content="no-referrer">',
            f"<title>{_esc(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
        ]
    )


def _html_toc(notes: list[Record], anchors: dict[str, str]) -> str:
    items = [
        f'<li><a href="#{_esc(anchors[note.id])}">{_esc(note["title"] or "Untitled")}</a></li>'
        for note in notes
    ]
    return "\n".join(["<nav><h2>Contents</h2>", "<ol>", *items, "</ol></nav>"])


def _html_note(note: Record, contacts: dict[str, Record], anchor: str) -> str:
    meta = [_esc(_kind(note))]
    meta += [
        _esc(f"{label} {note[key]}")
        for key, label in (("updated", "updated"), ("author", "by"))
        if note[key]
    ]
    parts = [
        f'<article id="{_esc(anchor)}">',
        f"<h2>{_esc(note['title'] or 'Untitled')}</h2>",
        f'<p class="meta">{" · ".join(meta)}</p>',
    ]
    if note["tags"]:
        tags = "".join(f"<li>{_esc(tag)}</li>" for tag in note["tags"])
        parts.append(f'<ul class="tags" aria-label="tags">{tags}</ul>')
    if note["contacts"]:
        parts.append(f'<p class="meta">Contacts: {_html_contacts(note, contacts)}</p>')
    parts += [
        '<div class="body">',
        render_markdown(str(note["body"] or ""), anchor),
        "</div>",
        "</article>",
    ]
    return "\n".join(parts)


def _html_contacts(note: Record, contacts: dict[str, Record]) -> str:
    shown: list[str] = []
    for contact_id in note["contacts"]:
        contact = contacts.get(str(contact_id))
        if contact is None:
            shown.append(f'<span class="muted">unknown contact {_esc(contact_id)}</span>')
            continue
        org = f' <span class="muted">({_esc(contact["org"])})</span>' if contact["org"] else ""
        shown.append(f"{_esc(contact.label)}{org}")
    return ", ".join(shown)


# ---------------------------------------------------------------------------------------------
# Markdown -> HTML: markdown-it-py with the GFM plugins, raw HTML escaped


def _render_link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", _REL)
    return str(renderer.renderToken(tokens, idx, options, env))


def _render_image(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image is a link to it: the page loads nothing from elsewhere."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    return _link(src, _esc(alt))


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """CommonMark with GitHub's tables, task lists, footnotes, strikethrough, alerts and
    autolinks; raw HTML in a note is shown as text, and only http(s) and mailto addresses
    become links (anything else, ``javascript:`` included, stays visible as plain text).
    Loaded when a page is rendered, not by every import of this package."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.gfm import gfm_plugin

    class _Markdown(MarkdownIt):
        def validateLink(self, url: str) -> bool:  # noqa: N802 (markdown-it's name)
            return safe_url(url)

    md = _Markdown("commonmark", {"html": False})
    md.use(gfm_plugin)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


def render_markdown(text: str, doc_id: str = "") -> str:
    """HTML for a note body. Headings start at ``<h3>`` (the page has ``<h1>``, each note
    ``<h2>``); ``doc_id`` keeps footnote anchors apart when several notes share a page."""
    md = _markdown()
    env: dict[str, Any] = {"docId": doc_id} if doc_id else {}
    tokens = md.parse(text, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + 2)}"
    return str(md.renderer.render(tokens, md.options, env)).rstrip("\n")


def safe_url(url: str) -> bool:
    """Only http, https and mailto addresses become links."""
    return bool(_SAFE_URL_RE.match(url.strip()))


def _link(url: str, label: str) -> str:
    return f'<a href="{_esc(url.strip())}" rel="{_REL}">{label}</a>'
