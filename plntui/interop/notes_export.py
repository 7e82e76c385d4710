"""Provides export of shared notes: a folder of Markdown files, one self-contained HTML page, JSON.

Markdown files carry YAML front matter written by a tiny emitter: every string double-quoted with
escapes (the quoted scalars are valid JSON strings too), lists in flow style, linked contacts as
name + id pairs. The HTML page needs nothing but itself: inline CSS, no scripts, no external
resources (a Content-Security-Policy forbids them too). Note bodies are rendered from Markdown by
a small renderer that escapes every piece of text it emits; links are kept only for http(s) and
mailto addresses, anything else (``javascript:``...) stays visible as plain text.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

from ..errors import ValidationError
from ..model import NOTE_KINDS, Record

_MAX_DEPTH = 6
_SPAN = 2000  # longest inline construct, so hostile input cannot make the regexes slow
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
@media (prefers-color-scheme:dark){body{background:#16191d;color:#dde2e7}
.tags li{background:#263340}pre{background:#22262b}a{color:#7db4f0}
.meta,.muted{color:#9aa4ae}blockquote{color:#bbb}}
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
) -> list[Path]:
    """Write one ``<slug>-<id>.md`` per note and an ``index.md``; return the written paths.
    ``progress(done, total)`` is called after each note."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValidationError(f"{out_dir} is a file; give a folder for the Markdown export")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or err
        raise ValidationError(f"cannot create the folder {out_dir}: {reason}") from None
    written: list[Path] = []
    names: dict[str, str] = {}
    taken: set[str] = set()
    for done, note in enumerate(_sorted(notes), 1):
        name = _file_name(note, taken)
        names[note.id] = name
        taken.add(name)
        written.append(_write(out_dir / name, _note_markdown(note, contacts)))
        if progress is not None:
            progress(done, len(notes))
    written.append(_write(out_dir / "index.md", _index_markdown(_sorted(notes), names)))
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
    lines = ["# Notes", "", f"{len(notes)} notes exported from plntui.", ""]
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


def notes_to_html(
    notes: list[Record], contacts: dict[str, Record], title: str = "Shared notes"
) -> str:
    """One self-contained HTML page of the notes with a table of contents."""
    ordered = _sorted(notes)
    anchors = {
        note.id: f"note-{slugify(note.id, 32) or index}" for index, note in enumerate(ordered)
    }
    parts = [
        _html_head(title),
        "<body>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="muted">{len(ordered)} notes exported from plntui.</p></header>',
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
        render_markdown(str(note["body"] or "")),
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
# Markdown -> HTML: a small renderer that escapes everything it emits

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_RULE_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM_RE = re.compile(r"^[ \t]*(?:([-*+])|(\d{1,9})[.)])[ \t]+(.*)$")
_QUOTE_RE = re.compile(r"^ {0,3}>[ \t]?(.*)$")
_INLINE_RE = re.compile(  # no construct can contain its own closing marker: linear time
    rf"``(?P<code2>(?:[^`\n]|`(?!`)){{1,{_SPAN}}})``"
    rf"|`(?P<code>[^`\n]{{1,{_SPAN}}})`"
    rf"|\[(?P<label>[^\[\]\n]{{1,{_SPAN}}})\]\((?P<url>[^()\s]{{1,{_SPAN}}}(?:\([^()\s]*\)[^()\s]*)?)\)"
    rf"|(?P<auto>(?<![\w@/])(?:https?://|mailto:)[^\s<>\"'`]{{0,{_SPAN}}}[^\s<>\"'`.,;:!?)\]])"
    rf"|\*\*(?P<strong>(?:[^*\n]|\*(?!\*)){{1,{_SPAN}}}?)\*\*"
    rf"|(?<!\w)__(?P<strong2>(?:[^_\n]|_(?!_)){{1,{_SPAN}}}?)__(?!\w)"
    rf"|(?<![\w*])\*(?P<em>[^*\s](?:[^*\n]{{0,{_SPAN}}}[^*\s])?)\*(?![\w*])"
    rf"|(?<!\w)_(?P<em2>[^_\s](?:[^_\n]{{0,{_SPAN}}}[^_\s])?)_(?!\w)"
    rf"|~~(?P<strike>(?:[^~\n]|~(?!~)){{1,{_SPAN}}}?)~~"
)
_SAFE_URL_RE = re.compile(r"(?:https?://[^\s/?#]|mailto:[^\s@]+@)", re.I)


def render_markdown(text: str) -> str:
    """HTML for a note body: headings (from ``<h3>``), paragraphs, lists, quotes, code."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        index = _block(lines, index, out)
    return "\n".join(out)


def _block(lines: list[str], index: int, out: list[str]) -> int:
    if not lines[index].strip():
        return index + 1
    for handler in (_fence_block, _heading_block, _rule_block, _list_block, _quote_block):
        end = handler(lines, index, out)
        if end is not None:
            return end
    return _paragraph_block(lines, index, out)


def _starts_block(line: str) -> bool:
    return bool(
        not line.strip()
        or _FENCE_RE.match(line)
        or _HEADING_RE.match(line)
        or _RULE_RE.match(line)
        or _ITEM_RE.match(line)
        or _QUOTE_RE.match(line)
    )


def _fence_block(lines: list[str], index: int, out: list[str]) -> int | None:
    match = _FENCE_RE.match(lines[index])
    if match is None:
        return None
    fence, language = match.group(1), match.group(2)
    end = index + 1
    while end < len(lines) and not lines[end].strip().startswith(fence):
        end += 1
    css = f' class="language-{_esc(language)}"' if language else ""
    out.append(f"<pre><code{css}>{_esc(chr(10).join(lines[index + 1 : end]))}</code></pre>")
    return end + 1


def _heading_block(lines: list[str], index: int, out: list[str]) -> int | None:
    match = _HEADING_RE.match(lines[index])
    if match is None:
        return None
    level = min(6, len(match.group(1)) + 2)
    out.append(f"<h{level}>{render_inline(match.group(2))}</h{level}>")
    return index + 1


def _rule_block(lines: list[str], index: int, out: list[str]) -> int | None:
    if not _RULE_RE.match(lines[index]):
        return None
    out.append("<hr>")
    return index + 1


def _list_block(lines: list[str], index: int, out: list[str]) -> int | None:
    first = _ITEM_RE.match(lines[index])
    if first is None:
        return None
    items: list[str] = []
    end = index
    while end < len(lines) and lines[end].strip():
        match = _ITEM_RE.match(lines[end])
        if match is not None:
            items.append(match.group(3))
        elif lines[end][:1] in (" ", "\t") or not _starts_block(lines[end]):
            items[-1] += "\n" + lines[end].strip()
        else:
            break
        end += 1
    tag, start = ("ul", "") if first.group(1) else ("ol", first.group(2))
    attribute = f' start="{int(start)}"' if start and int(start) != 1 else ""
    body = "".join(f"<li>{render_inline(item)}</li>" for item in items)
    out.append(f"<{tag}{attribute}>{body}</{tag}>")
    return end


def _quote_block(lines: list[str], index: int, out: list[str]) -> int | None:
    quoted: list[str] = []
    end = index
    while end < len(lines) and (match := _QUOTE_RE.match(lines[end])):
        quoted.append(match.group(1))
        end += 1
    if not quoted:
        return None
    paragraphs = "\n".join(quoted).split("\n\n")
    body = "".join(f"<p>{render_inline(p.strip())}</p>" for p in paragraphs if p.strip())
    out.append(f"<blockquote>{body}</blockquote>")
    return end


def _paragraph_block(lines: list[str], index: int, out: list[str]) -> int:
    end = index + 1
    while end < len(lines) and not _starts_block(lines[end]):
        end += 1
    text = "\n".join(line.strip() for line in lines[index:end])
    out.append(f"<p>{render_inline(text)}</p>")
    return end


def render_inline(text: str, depth: int = 0, links: bool = True) -> str:
    """Inline Markdown (code, links, emphasis) as HTML; all text escaped."""
    out: list[str] = []
    position = 0
    for match in _INLINE_RE.finditer(text):
        out.append(_esc(text[position : match.start()]))
        out.append(_inline_token(match, depth, links))
        position = match.end()
    out.append(_esc(text[position:]))
    return "".join(out)


def _inline_token(match: re.Match[str], depth: int, links: bool) -> str:
    code = match["code"] if match["code"] is not None else match["code2"]
    if code is not None:
        return f"<code>{_esc(code.strip() if match['code2'] else code)}</code>"
    if depth >= _MAX_DEPTH:
        return _esc(match.group(0))
    if match["url"] is not None:
        if not links or not safe_url(match["url"]):
            return _esc(match.group(0))
        return _link(match["url"], render_inline(match["label"], depth + 1, links=False))
    if match["auto"] is not None:
        return _link(match["auto"], _esc(match["auto"])) if links else _esc(match["auto"])
    for group, tag in (
        ("strong", "strong"),
        ("strong2", "strong"),
        ("em", "em"),
        ("em2", "em"),
        ("strike", "del"),
    ):
        if match[group] is not None:
            return f"<{tag}>{render_inline(match[group], depth + 1, links)}</{tag}>"
    return _esc(match.group(0))


def safe_url(url: str) -> bool:
    """Only http, https and mailto addresses become links."""
    return bool(_SAFE_URL_RE.match(url.strip()))


def _link(url: str, label: str) -> str:
    return f'<a href="{_esc(url.strip())}" rel="noopener noreferrer nofollow">{label}</a>'
