"""Unit tests of the data model: validation and normalisation, with no document involved."""

from __future__ import annotations

import datetime as dt

import pytest

from plntui.errors import ValidationError
from plntui.model import (
    Record,
    check_field,
    check_fields,
    check_new,
    normalise_topic,
    parse_date,
    safe_text,
)


def test_name_is_required() -> None:
    with pytest.raises(ValidationError, match="Name is required") as err:
        check_new("contacts", {"name": "   "})
    assert err.value.field == "name"


@pytest.mark.parametrize(
    "raw", ["Machine  Learning", " machine learning ", "#Machine Learning", "MACHINE\tLEARNING"]
)
def test_topics_are_normalised(raw: str) -> None:
    assert normalise_topic(raw) == "machine learning"
    assert check_field("contacts", "topics", [raw, "Rust", "rust"]) == ["machine learning", "rust"]


@pytest.mark.parametrize(
    "email", ["ada@example.com", "a.b+tag@sub.example.co.uk", "mailto:ada@Example.COM"]
)
def test_good_emails(email: str) -> None:
    assert "@" in check_field("contacts", "emails", [email])[0]


def test_email_domain_is_lower_cased() -> None:
    assert check_field("contacts", "emails", ["Ada@Example.COM"]) == ["Ada@example.com"]


@pytest.mark.parametrize(
    "email", ["ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@exa_mple.com"]
)
def test_bad_emails_are_refused(email: str) -> None:
    with pytest.raises(ValidationError, match="not a valid e-mail") as err:
        check_field("contacts", "emails", [email])
    assert err.value.field == "emails"


def test_urls() -> None:
    assert check_field("contacts", "links", ["example.com/ada"]) == ["https://example.com/ada"]
    assert check_field("contacts", "links", ["http://x.org"]) == ["http://x.org"]
    with pytest.raises(ValidationError, match="not a valid link"):
        check_field("contacts", "links", ["javascript:alert(1)"])
    with pytest.raises(ValidationError, match="not a valid link"):
        check_field("contacts", "links", ["not a url"])


def test_dates() -> None:
    today = dt.date.today()
    assert parse_date("2024-02-29") == "2024-02-29"
    assert parse_date("today") == today.isoformat()
    assert parse_date("yesterday") == (today - dt.timedelta(days=1)).isoformat()
    assert parse_date("-10d") == (today - dt.timedelta(days=10)).isoformat()
    for bad in ("2023-02-29", "2024-13-01", "tomorrowish", "1800-01-01", "12/03/2024"):
        with pytest.raises(ValidationError):
            parse_date(bad)


def test_choices_and_numbers() -> None:
    assert check_field("contacts", "relationship", "Mentor") == "mentor"
    with pytest.raises(ValidationError, match="must be one of"):
        check_field("contacts", "relationship", "boss")
    assert check_field("contacts", "rating", "4") == 4
    with pytest.raises(ValidationError, match="1 to 5"):
        check_field("contacts", "rating", 9)
    with pytest.raises(ValidationError, match="whole number"):
        check_field("contacts", "cadence_days", "weekly")


def test_lengths_are_limited() -> None:
    with pytest.raises(ValidationError, match="too long"):
        check_field("contacts", "name", "x" * 201)
    with pytest.raises(ValidationError, match="at most 20 items"):
        check_field("contacts", "emails", [f"p{i}@example.com" for i in range(21)])


def test_control_characters_are_removed() -> None:
    assert check_field("contacts", "name", "Ada\x1b[31m Lovelace\x07") == "Ada [31m Lovelace"
    body = check_field("notes", "body", "line one\r\nline\x00 two\n\tindented")
    assert body == "line one\nline two\n\tindented"


def test_all_errors_of_a_form_are_reported_together() -> None:
    with pytest.raises(ValidationError) as err:
        check_fields("contacts", {"emails": ["bad"], "rating": 7})
    assert "e-mail" in err.value.message and "1 to 5" in err.value.message


def test_unknown_field() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        check_field("contacts", "shoe_size", "42")


def test_record_json_marks_private_fields() -> None:
    record = Record(
        "contacts", "abcdef123456", {"name": "Ada", "remark": "x"}, frozenset({"remark"})
    )
    data = record.to_json()
    assert data["id"] == "abcdef123456"
    assert data["emails"] == [] and data["topics"] == [] and data["org"] == ""
    assert data["private_fields"] == ["remark"]
    assert data["private"] is False


def test_safe_text_strips_escape_sequences_but_keeps_markup_literally() -> None:
    assert safe_text("[bold red]x[/]\x1b]0;pwned\x07") == "[bold red]x[/]]0;pwned"
