"""Provides ContactForm: add or edit a contact, with validation messages beside each field."""

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
from ...model import FIELDS, RELATIONSHIPS, Record, check_field, display_value

if TYPE_CHECKING:
    from ..app import PlntuiApp

FORM_FIELDS = (
    "name",
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
    "cadence_days": "days",
    "rating": "1-5",
}


class ContactForm(ModalScreen[Record | None]):
    """Dismisses with the saved record, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    ContactForm { align: center middle; }
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

    def compose(self) -> ComposeResult:
        record = self.record
        with Vertical():
            title = f"Edit {record.label}" if record else "Add a contact"
            yield Static(Text(title), classes="title")
            with VerticalScroll():
                for name in FORM_FIELDS:
                    spec = FIELDS["contacts"][name]
                    with Horizontal(classes="row"):
                        yield Label(spec.label)
                        yield self._input(name)
                        if spec.private_only:
                            yield Static("always private", classes="always")
                        else:
                            private = bool(record and record.is_private(name)) or (
                                record is None and spec.private_default
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
        if name == "introduced_by" and value and self.papp.net is not None:
            index = self.papp.net.index()
            other = index.get("contacts", str(value))
            value = other.label if other else value
        text = display_value(value) if value not in (None, []) else ""
        return Input(text, placeholder=HINTS.get(name, ""), id=f"field-{name}", compact=True)

    def on_mount(self) -> None:
        self.query_one("#field-name", Input).focus()

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
        for name in FORM_FIELDS:
            widget = self.query_one(f"#error-{name}", Static)
            widget.update(Text(errors.get(name, "")))
            widget.display = name in errors
        general = self.query_one("#error-form", Static)
        general.update(Text(errors.get("", "")))
        general.display = "" in errors
        if errors:
            first = next((n for n in FORM_FIELDS if n in errors), None)
            if first:
                self.query_one(f"#field-{first}").focus()

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
        net = self.papp.net
        assert net is not None
        try:
            with self.papp.net_lock:
                if self.record is None:
                    record = net.add(
                        "contacts",
                        values,
                        private=item_private or None,
                        private_fields=sorted(private_now),
                    )
                else:
                    was_private = {
                        n
                        for n in FORM_FIELDS
                        if self.record.is_private(n) and not FIELDS["contacts"][n].private_only
                    }
                    record = net.edit(
                        "contacts",
                        self.record.id,
                        values,
                        make_private=sorted(private_now - was_private)
                        if not self.record.private_item
                        else [],
                        make_shared=sorted(was_private - private_now)
                        if not self.record.private_item
                        else [],
                        item_private=item_private
                        if item_private != self.record.private_item
                        else None,
                    )
        except ValidationError as err:
            self._show_errors(
                {err.field or "": err.message} if err.field in FORM_FIELDS else {"": err.message}
            )
            return
        except PlntuiError as err:
            self._show_errors({"": err.message})
            return
        self.dismiss(record)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
