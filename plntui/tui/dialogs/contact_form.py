"""Provides ContactForm: add or edit a contact, with validation messages beside each field.

Colleagues' edits keep merging in while the form is open, so saving is a three-way merge per
field (``merge_field``) between the record as the form opened (base), the form (mine) and the
record now (theirs): fields I left alone are not written, list fields get my additions and
removals, long texts merge both edits, and for short values mine wins with a notification.

The contact's circle is a select of the circles this device is a member of, plus "Private",
which goes with the *private contact* switch (each follows the other): saving another circle
moves the contact there (``Network.edit(..., circle=...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ...errors import NotFoundError, PlntuiError, ValidationError
from ...model import (
    FIELDS,
    RELATIONSHIPS,
    Field,
    Record,
    check_field,
    display_value,
    empty_value,
    safe_text,
)
from ...textdiff import merge_text

if TYPE_CHECKING:
    from ..app import PlntuiApp

FORM_FIELDS = (
    "name",
    "nickname",
    "emails",
    "phones",
    "org",
    "role",
    "relationship",
    "topics",
    "met",
    "met_where",
    "channel",
    "introduced_by",
    "links",
    "birthday",
    "address",
    "last_contacted",
    "cadence_days",
    "remark",
    "rating",
    "reminder",
)
HINTS = {
    "emails": "comma-separated",
    "phones": "comma-separated",
    "topics": "comma-separated",
    "links": "comma-separated",
    "introduced_by": "name or id",
    "last_contacted": "YYYY-MM-DD",
    "birthday": "YYYY-MM-DD, or --MM-DD",
    "cadence_days": "days",
    "rating": "1-5",
}


PRIVATE_CHOICE = "private"
"""The circle select's value for a private contact (no circle: reserved as a circle name)."""


def circle_choices(
    net: Any, record: Record | None, private_choice: bool = True
) -> tuple[list[tuple[Text, str]], str, bool]:
    """The options of a circle select (the circles this device is a member of, by name; then
    "Private" if ``private_choice``), the value to show for ``record`` (the default circle for a
    new item), and whether the item's circle is one this device left (read-only). Call with
    the network's lock held."""
    options: list[tuple[Text, str]] = [(Text(safe_text(c.name)), c.id) for c in net.my_circles()]
    left = False
    if record is None:
        value = net.default_circle().id
    elif record.private_item:
        value = PRIVATE_CHOICE
    else:
        value = record.circle
        if value not in {v for _, v in options}:
            left = True
            name = safe_text(record.circle_name or value[:8])
            options.append((Text(f"{name} (you left it: read-only)"), value))
    if private_choice or value == PRIVATE_CHOICE:
        options.append((Text("Private: this device only"), PRIVATE_CHOICE))
    return options, value, left


def _mergeable_text(spec: Field) -> bool:
    """Long free text merges both edits; short values (names, dates, numbers, choices) do not."""
    return spec.kind == "text" or (
        spec.kind == "str" and spec.limit >= 1000 and not spec.choices and spec.check is None
    )


def merge_field(spec: Field, base: Any, mine: Any, theirs: Any) -> tuple[Any, str]:
    """Three-way merge of one field the form changed (``mine != base``) with the value it has
    now (``theirs``). Returns the value to write and what happened: ``""`` (no conflict),
    ``"merged"`` (both edits of a long text kept) or ``"kept"`` (mine replaced theirs)."""
    if spec.kind == "list":
        base, mine, theirs = list(base or []), list(mine or []), list(theirs or [])
        if theirs == base:
            return mine, ""
        removed = {v for v in base if v not in mine}
        merged = [v for v in theirs if v not in removed]
        merged += [v for v in mine if v not in base and v not in merged]
        return list(dict.fromkeys(merged)), ""
    if theirs in (base, mine):
        return mine, ""
    if _mergeable_text(spec):
        return merge_text(str(base or ""), str(mine or ""), str(theirs or "")), "merged"
    return mine, "kept"


class ContactForm(ModalScreen[Record | None]):
    """Dismisses with the saved record, or None when cancelled.

    Its backdrop is opaque: a dimmed list behind the form is drawn through a filter at every
    frame, which made opening and closing the form about 40 ms slower at 10,000 contacts."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    ContactForm { align: center middle; background: $background; }
    ContactForm > Vertical {
        width: 100; max-width: 100%; height: 100%; max-height: 40; border: thick $primary;
        background: $surface;
    }
    ContactForm .title { padding: 0 1; text-style: bold; }
    ContactForm VerticalScroll { height: 1fr; padding: 0 1; }
    ContactForm .row { height: 1; margin-top: 1; }
    ContactForm .row Label { width: 16; }
    ContactForm .row Input, ContactForm .row Select { width: 1fr; }
    ContactForm .row Checkbox { width: auto; border: none; padding: 0 1; height: 1; }
    ContactForm .row .always { width: 13; padding: 0 1; color: $text-muted; }
    ContactForm .error { color: $error; height: auto; padding-left: 16; display: none; }
    ContactForm .buttons { height: 1; align-horizontal: right; padding: 0 1; }
    ContactForm .buttons Button { margin-left: 1; }
    ContactForm #error-form { width: 1fr; padding-left: 0; margin-top: 0; }
    """

    def __init__(self, app: PlntuiApp, record: Record | None) -> None:
        super().__init__()
        self.papp = app
        self.record = record
        net = app.net
        assert net is not None
        with app.net_lock:  # the index's connection is shared with the sync engine's thread
            self._circles, self._circle, self._left = circle_choices(net, record)
            intro = record.values.get("introduced_by") if record is not None else None
            other = net.index().get("contacts", str(intro)) if intro else None
            self._introducer = other.label if other is not None else intro
        self._last_circle = (
            self._circle if self._circle != PRIVATE_CHOICE else (self._first_circle() or "")
        )

    def _first_circle(self) -> str | None:
        return next((v for _, v in self._circles if v != PRIVATE_CHOICE), None)

    def compose(self) -> ComposeResult:
        record = self.record
        with Vertical():
            title = f"Edit {safe_text(record.label)}" if record else "Add a contact"
            yield Static(Text(title), classes="title")
            with VerticalScroll():
                with Horizontal(classes="row"):
                    yield Label("Circle")
                    yield Select(
                        self._circles,
                        value=self._circle,
                        allow_blank=False,
                        id="field-circle",
                        compact=True,
                        disabled=self._left,
                    )
                yield Static("", classes="error", id="error-circle")
                for name in FORM_FIELDS:
                    spec = FIELDS["contacts"][name]
                    with Horizontal(classes="row"):
                        yield Label(spec.label)
                        yield self._input(name)
                        if spec.private_only:
                            yield Static("always private", classes="always")
                        else:
                            # a field with no value yet starts as its kind does (a birthday,
                            # an address: private), as in a new contact
                            empty = record is None or record.values.get(name) in (None, "", [])
                            private = bool(record and record.is_private(name)) or (
                                empty and spec.private_default
                            )
                            yield Checkbox(
                                "private",
                                private,
                                id=f"private-{name}",
                                compact=True,
                                disabled=bool(record and record.private_item),
                            )
                    yield Static("", classes="error", id=f"error-{name}")
                yield Checkbox(
                    "Private contact: keep all of it on this device",
                    bool(record and record.private_item),
                    id="private-item",
                )
            with Horizontal(classes="buttons"):
                yield Static("", classes="error", id="error-form")
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)

    def _input(self, name: str) -> Input | Select[str]:
        value = self.record.values.get(name) if self.record else None
        if name == "relationship":
            return Select(
                [(r, r) for r in RELATIONSHIPS],
                value=value or Select.NULL,
                id="field-relationship",
                prompt="(none)",
                compact=True,
            )
        if name == "introduced_by" and value:
            value = self._introducer  # its name, read under the lock when the form opened
        text = display_value(value) if value not in (None, []) else ""
        return Input(text, placeholder=HINTS.get(name, ""), id=f"field-{name}", compact=True)

    def on_mount(self) -> None:
        self.query_one("#field-name", Input).focus()

    # -- the circle and the private switch follow each other -------------------------------------

    @on(Select.Changed, "#field-circle")
    def _circle_chosen(self, event: Select.Changed) -> None:
        value = event.value
        if value is Select.NULL:
            return
        if value != PRIVATE_CHOICE:
            self._last_circle = str(value)
        switch = self.query_one("#private-item", Checkbox)
        if switch.value != (value == PRIVATE_CHOICE):
            switch.value = value == PRIVATE_CHOICE

    @on(Checkbox.Changed, "#private-item")
    def _private_switched(self, event: Checkbox.Changed) -> None:
        select = self.query_one("#field-circle", Select)
        if event.value and select.value != PRIVATE_CHOICE:
            select.value = PRIVATE_CHOICE
        elif not event.value and select.value == PRIVATE_CHOICE:
            select.value = self._last_circle or self._first_circle() or Select.NULL

    def _chosen_circle(self) -> str | None:
        """The circle id the select shows, or None for "Private"."""
        value = self.query_one("#field-circle", Select).value
        return None if value in (PRIVATE_CHOICE, Select.NULL) else str(value)

    # -- reading the form -----------------------------------------------------------------------

    def _raw(self, name: str) -> Any:
        if name == "relationship":
            value = self.query_one("#field-relationship", Select).value
            return "" if value is Select.NULL else str(value)
        text = self.query_one(f"#field-{name}", Input).value
        if FIELDS["contacts"][name].kind == "list":
            return [part.strip() for part in text.split(",") if part.strip()]
        return text

    def _resolve_introducer(self, text: str) -> str:
        if not text.strip():
            return ""
        net = self.papp.net
        assert net is not None
        try:
            return net.resolve_id("contacts", text)
        except NotFoundError:
            pass
        wanted = text.strip().casefold()
        matches = [r for r in net.index().list("contacts") if r.label.casefold() == wanted]
        if len(matches) == 1:
            return matches[0].id
        if not matches:
            raise ValidationError(f"no contact named {text.strip()!r}", "introduced_by")
        raise ValidationError(
            f"{len(matches)} contacts are named {text.strip()!r}: give the id", "introduced_by"
        )

    def _collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in FORM_FIELDS:
            raw = self._raw(name)
            try:
                if name == "introduced_by":
                    with self.papp.net_lock:
                        raw = self._resolve_introducer(raw)
                checked = check_field("contacts", name, raw)
                if name == "name" and not checked:
                    raise ValidationError("Name is required", "name")
            except ValidationError as err:
                errors[name] = err.message
                continue
            old = self.record.values.get(name) if self.record else None
            if self.record is None or checked != (
                old
                if old is not None
                else (
                    []
                    if isinstance(checked, list)
                    else None
                    if name in ("rating", "cadence_days")
                    else ""
                )
            ):
                values[name] = checked
        return values, errors

    def _show_errors(self, errors: dict[str, str]) -> None:
        for name in ("circle", *FORM_FIELDS):
            widget = self.query_one(f"#error-{name}", Static)
            widget.update(Text(errors.get(name, "")))
            widget.display = name in errors
        general = self.query_one("#error-form", Static)
        general.update(Text(errors.get("", "")))
        general.display = "" in errors
        if errors:
            first = next((n for n in ("circle", *FORM_FIELDS) if n in errors), None)
            if first:
                self.query_one(f"#field-{first}").focus()

    # -- a message goes once its field is fixed ---------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("field-")
        if name in FORM_FIELDS:
            self._recheck(name)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        name = (event.select.id or "").removeprefix("field-")
        if name in ("circle", "relationship"):
            self._recheck(name)

    def _recheck(self, name: str) -> None:
        """The field ``name`` changed: if a message about it is shown, it goes when the field is
        valid now, or says what is wrong now. A circle or an introducer is checked again only
        when saving (that reads the network): its message goes as soon as it is changed."""
        widget = self.query_one(f"#error-{name}", Static)
        if not widget.display:
            return
        message = ""
        if name not in ("circle", "introduced_by"):
            try:
                checked = check_field("contacts", name, self._raw(name))
                if name == "name" and not checked:
                    raise ValidationError("Name is required", "name")
            except ValidationError as err:
                message = err.message
        widget.update(Text(message))
        widget.display = bool(message)

    # -- saving ---------------------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        values, errors = self._collect()
        if errors:
            self._show_errors(errors)
            return
        private_now = {
            n
            for n in FORM_FIELDS
            if not FIELDS["contacts"][n].private_only
            and self.query_one(f"#private-{n}", Checkbox).value
        }
        item_private = self.query_one("#private-item", Checkbox).value
        circle = None if item_private else self._chosen_circle()
        net = self.papp.net
        assert net is not None
        conflicts: list[tuple[str, str]] = []
        changed_by = ""
        try:
            with self.papp.net_lock, net.batch():
                if self.record is None:
                    record = net.add(
                        "contacts",
                        values,
                        private=item_private or None,
                        private_fields=sorted(private_now),
                        circle=circle,
                    )
                else:
                    # One edit: what another process or a peer stored since the form opened is
                    # read inside it, merged with the form's values, then written.
                    try:
                        current = net.get("contacts", self.record.id)
                    except NotFoundError:
                        self._deleted_meanwhile()
                        return
                    values, conflicts = self._merge(values, current)
                    changed_by = str(current.values.get("changed_by") or "")
                    record = self._write(net, values, private_now, item_private, circle)
                who = self._who(changed_by) if conflicts else ""
        except ValidationError as err:
            shown = ("circle", *FORM_FIELDS)
            self._show_errors(
                {err.field or "": err.message} if err.field in shown else {"": err.message}
            )
            return
        except PlntuiError as err:
            self._show_errors({"": err.message})
            return
        if conflicts:
            self._report_conflicts(who, conflicts)
        self.dismiss(record)

    def _deleted_meanwhile(self) -> None:
        """The contact is gone (a colleague or another window deleted it): say so, keep the form
        open with the user's values, and write nothing (no silent resurrection)."""
        assert self.record is not None
        message = (
            f"{self.record.label} was deleted meanwhile (on another device or in another "
            "window): your changes were not saved. Cancel to discard them."
        )
        self._show_errors({"": message})
        self.papp.safe_notify(message, title="Contact deleted", severity="error", timeout=10)

    def _merge(
        self, values: dict[str, Any], current: Record
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Merge the fields the form changed (``values``, relative to the record as the form
        opened) into ``current``; fields the form left alone are not written at all."""
        assert self.record is not None
        merged: dict[str, Any] = {}
        conflicts: list[tuple[str, str]] = []
        for name, mine in values.items():
            spec = FIELDS["contacts"][name]
            base = self.record.values.get(name)
            theirs = current.values.get(name)
            value, outcome = merge_field(
                spec,
                empty_value(spec) if base is None else base,
                mine,
                empty_value(spec) if theirs is None else theirs,
            )
            merged[name] = value
            if outcome:
                conflicts.append((spec.label, outcome))
        return merged, conflicts

    def _write(
        self,
        net: Any,
        values: dict[str, Any],
        private_now: set[str],
        item_private: bool,
        circle: str | None,
    ) -> Record:
        """Save the form: its fields, which of them are private, whether the contact is
        private, and its circle (``circle``: an id, None for a private contact). Only what the
        form changed is written: a contact a colleague moved meanwhile stays where it is unless
        the form chose another circle."""
        record = self.record
        assert record is not None
        was_private = {
            n
            for n in FORM_FIELDS
            if record.is_private(n) and not FIELDS["contacts"][n].private_only
        }
        moved = circle is not None and circle != self._circle
        result: Record = net.edit(
            "contacts",
            record.id,
            values,
            make_private=sorted(private_now - was_private) if not record.private_item else [],
            make_shared=sorted(was_private - private_now) if not record.private_item else [],
            item_private=item_private if item_private != record.private_item else None,
            circle=circle if moved else None,
        )
        return result

    def _who(self, changed_by: str) -> str:
        """The colleague whose edit last changed the record, or "" for this device (another
        window or the CLI) or an unknown one."""
        net = self.papp.net
        if not changed_by or net is None or changed_by in net.own_ids:
            return ""
        try:
            return net.device_name(changed_by)
        except PlntuiError:
            return ""

    def _report_conflicts(self, who: str, conflicts: list[tuple[str, str]]) -> None:
        lines = []
        for label, outcome in conflicts:
            what = f"{who} also changed {label}" if who else f"{label} was also changed elsewhere"
            if outcome == "kept":
                lines.append(f"{what}; your value was kept.")
            else:
                lines.append(f"{what}; both edits were merged.")
        self.papp.safe_notify(
            "\n".join(lines), title="Changed meanwhile", severity="warning", timeout=10
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
