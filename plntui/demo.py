"""Provides the demo profile: a throwaway folder holding a realistic sample learning network."""

from __future__ import annotations

import datetime as _dt
import random
import tempfile
from pathlib import Path
from typing import Any

from .network import Network

PEOPLE: tuple[dict[str, Any], ...] = (
    {
        "name": "Priya Raman",
        "org": "Northwind Analytics",
        "role": "Staff data engineer",
        "topics": ["data engineering", "dbt", "postgres"],
        "relationship": "mentor",
        "met": "Ran the dbt workshop at the spring meetup",
        "channel": "in person",
        "cadence": 30,
    },
    {
        "name": "Tomás Ibarra",
        "org": "Lumen Health",
        "role": "Engineering manager",
        "topics": ["hiring", "engineering management", "incident response"],
        "relationship": "mentor",
        "met": "Former manager",
        "channel": "in person",
        "cadence": 45,
    },
    {
        "name": "Mei Chen",
        "org": "Northwind Analytics",
        "role": "ML engineer",
        "topics": ["machine learning", "python", "mlops"],
        "relationship": "colleague",
        "met": "Same team since 2023",
        "channel": "in person",
        "cadence": 14,
    },
    {
        "name": "Olusegun Adeyemi",
        "org": "Open Source Infra Collective",
        "role": "Maintainer",
        "topics": ["rust", "observability", "open source"],
        "relationship": "professional",
        "met": "Reviewed my first PR to the tracing crate",
        "channel": "GitHub",
        "cadence": 90,
    },
    {
        "name": "Hannah Vogel",
        "org": "Stadtwerke Digital",
        "role": "Security architect",
        "topics": ["security", "threat modelling", "tls"],
        "relationship": "professional",
        "met": "Panel on zero trust at a regional conference",
        "channel": "conference",
    },
    {
        "name": "Diego Fernández",
        "org": "Freelance",
        "role": "Accessibility consultant",
        "topics": ["accessibility", "ux research"],
        "relationship": "peer",
        "met": "Rands Leadership Slack, #design channel",
        "channel": "Slack: Rands Leadership",
    },
    {
        "name": "Aisha Karimi",
        "org": "Lumen Health",
        "role": "Product manager",
        "topics": ["product discovery", "roadmapping", "user interviews"],
        "relationship": "peer",
        "met": "Worked together on the patient portal",
        "channel": "in person",
        "cadence": 60,
    },
    {
        "name": "Sven Lindqvist",
        "org": "Fjord Systems",
        "role": "Principal engineer",
        "topics": ["distributed systems", "crdt", "rust"],
        "relationship": "mentor",
        "met": "Local-first meetup talk on CRDTs",
        "channel": "Local-First Discord",
        "cadence": 60,
    },
    {
        "name": "Grace Otieno",
        "org": "Kijani Labs",
        "role": "Data scientist",
        "topics": ["statistics", "causal inference", "python"],
        "relationship": "mentee",
        "met": "Mentoring programme, cohort 4",
        "channel": "video calls",
        "cadence": 21,
    },
    {
        "name": "Lucas Moreau",
        "org": "Northwind Analytics",
        "role": "Site reliability engineer",
        "topics": ["kubernetes", "observability", "incident response"],
        "relationship": "colleague",
        "met": "On-call rotation buddy",
        "channel": "in person",
        "cadence": 30,
    },
    {
        "name": "Yuki Tanaka",
        "org": "Sora Robotics",
        "role": "Embedded engineer",
        "topics": ["embedded", "rust", "robotics"],
        "relationship": "professional",
        "met": "Rust embedded working group call",
        "channel": "Matrix: rust-embedded",
    },
    {
        "name": "Fatima Zahra Benali",
        "org": "Atlas University",
        "role": "Lecturer",
        "topics": ["teaching", "databases", "sql"],
        "relationship": "mentor",
        "met": "Guest lecture she invited me to",
        "channel": "in person",
        "cadence": 120,
    },
    {
        "name": "Noah Williams",
        "org": "Brightline Consulting",
        "role": "Agile coach",
        "topics": ["facilitation", "retrospectives", "team topologies"],
        "relationship": "peer",
        "met": "Facilitation training",
        "channel": "in person",
    },
    {
        "name": "Ingrid Solberg",
        "org": "Fjord Systems",
        "role": "Developer advocate",
        "topics": ["technical writing", "developer experience", "crdt"],
        "relationship": "peer",
        "met": "Introduced by Sven after his talk",
        "channel": "in person",
        "intro": "Sven Lindqvist",
    },
    {
        "name": "Rahul Mehta",
        "org": "Lumen Health",
        "role": "Frontend lead",
        "topics": ["typescript", "react", "accessibility"],
        "relationship": "colleague",
        "met": "Patient portal project",
        "channel": "in person",
        "cadence": 30,
    },
    {
        "name": "Camila Rojas",
        "org": "Andes Fintech",
        "role": "CTO",
        "topics": ["engineering management", "fintech", "hiring"],
        "relationship": "professional",
        "met": "CTO roundtable dinner",
        "channel": "in person",
        "intro": "Tomás Ibarra",
    },
    {
        "name": "Ben Carter",
        "org": "Northwind Analytics",
        "role": "Analytics engineer",
        "topics": ["dbt", "sql", "data modelling"],
        "relationship": "mentee",
        "met": "Joined the team last year",
        "channel": "in person",
        "cadence": 14,
        "intro": "Priya Raman",
    },
    {
        "name": "Elif Demir",
        "org": "Bosphorus AI",
        "role": "Research scientist",
        "topics": ["machine learning", "nlp", "evaluation"],
        "relationship": "professional",
        "met": "Poster session at a workshop",
        "channel": "conference",
        "intro": "Mei Chen",
    },
    {
        "name": "Kwame Mensah",
        "org": "Open Source Infra Collective",
        "role": "Community manager",
        "topics": ["open source", "community building", "governance"],
        "relationship": "peer",
        "met": "Maintainer summit hallway track",
        "channel": "in person",
        "intro": "Olusegun Adeyemi",
    },
    {
        "name": "Sophie Laurent",
        "org": "Atelier Data",
        "role": "Data visualisation designer",
        "topics": ["data visualisation", "d3", "storytelling"],
        "relationship": "professional",
        "met": "Her newsletter; replied to an issue",
        "channel": "newsletter",
    },
)

NOTES: tuple[dict[str, Any], ...] = (
    {
        "title": "Reading list: local-first software",
        "kind": "resource",
        "tags": ["crdt", "local-first"],
        "people": ["Sven Lindqvist", "Ingrid Solberg"],
        "body": "# Local-first reading list\n\n- *Local-first software* (Ink & Switch, 2019)\n"
        "- Automerge docs: the sync protocol\n- Martin Kleppmann's CRDT talks\n\n"
        "Sven recommends starting with the essay, then the Automerge internals.\n",
    },
    {
        "title": "1:1 template",
        "kind": "template",
        "tags": ["management", "one-on-one"],
        "people": ["Tomás Ibarra"],
        "body": "## Check-in\n\n- How are you, really?\n\n## Their agenda\n\n## My agenda\n\n"
        "## Growth\n\n- What did you learn since last time?\n\n## Actions\n",
    },
    {
        "title": "Incident review: checkout latency",
        "kind": "review",
        "tags": ["incident response", "observability"],
        "people": ["Lucas Moreau"],
        "body": "## Summary\n\np99 latency rose to 4 s for 40 minutes.\n\n## What helped\n\n"
        "- Lucas's dashboard with exemplars\n\n## Follow-ups\n\n- [ ] Alert on saturation\n",
    },
    {
        "title": "dbt workshop notes",
        "kind": "note",
        "tags": ["dbt", "data engineering"],
        "people": ["Priya Raman", "Ben Carter"],
        "body": "- Keep staging models one-to-one with sources\n- Test uniqueness on every key\n"
        "- `dbt build --select state:modified+` in CI\n",
    },
    {
        "title": "Hiring loop retro",
        "kind": "review",
        "tags": ["hiring"],
        "people": ["Camila Rojas", "Tomás Ibarra"],
        "body": "Structured interviews cut our time-to-decision by a week. Camila shared her "
        "rubric; ask before reusing it.\n",
    },
    {
        "title": "Accessibility checklist",
        "kind": "resource",
        "tags": ["accessibility"],
        "people": ["Diego Fernández", "Rahul Mehta"],
        "body": "1. Keyboard only: every action reachable\n2. Contrast 4.5:1 for text\n"
        "3. Labels on every form field\n4. Screen reader pass on main flows\n",
    },
    {
        "title": "Mentoring Grace: goals",
        "kind": "note",
        "tags": ["mentoring", "statistics"],
        "people": ["Grace Otieno"],
        "body": "Goals for this cohort: publish one analysis, present at the team demo, "
        "learn causal inference basics (book: *The Effect*).\n",
    },
    {
        "title": "Talk idea: CRDTs for address books",
        "kind": "note",
        "tags": ["crdt", "talks"],
        "people": ["Sven Lindqvist"],
        "body": "Contacts are a good CRDT demo: small maps, concurrent edits, duplicate people.\n",
    },
)

INTERACTIONS = ("coffee", "call", "meeting", "message", "email")
SUMMARIES = (
    "Caught up on their new project",
    "Asked for advice on a design review",
    "Shared a paper we both liked",
    "Talked about career steps",
    "Pairing session",
    "Quick sync after the meetup",
)


def seed(net: Network, rng: random.Random | None = None) -> None:
    """Fill ``net`` with the sample network (in one durable commit)."""
    rng = rng or random.Random(7)  # noqa: S311 - sample data, not secrets
    today = _dt.date.today()
    ids: dict[str, str] = {}
    data_team = net.create_circle("Data team")
    with net.batch():
        for person in PEOPLE:
            first = person["name"].split()[0].lower()
            org_domain = person["org"].split()[0].lower()
            values = {
                "name": person["name"],
                "org": person["org"],
                "role": person["role"],
                "topics": person["topics"],
                "relationship": person["relationship"],
                "met": person["met"],
                "channel": person["channel"],
                "emails": [f"{first}@{org_domain}.example"],
                "cadence_days": person.get("cadence"),
            }
            if "intro" in person:
                values["introduced_by"] = ids[person["intro"]]
            data = {"data engineering", "sql", "machine learning", "statistics"}
            circle = data_team.id if data & set(person["topics"]) else None
            ids[person["name"]] = net.add("contacts", values, circle=circle).id
        for person in PEOPLE:
            for _ in range(rng.randint(0, 3)):
                day = today - _dt.timedelta(days=rng.randint(1, 150))
                net.log_interaction(
                    ids[person["name"]],
                    rng.choice(INTERACTIONS),
                    rng.choice(SUMMARIES),
                    day.isoformat(),
                )
        for note in NOTES:
            net.add(
                "notes",
                {
                    "title": note["title"],
                    "kind": note["kind"],
                    "tags": note["tags"],
                    "body": note["body"],
                    "contacts": [ids[p] for p in note["people"]],
                },
            )
        net.edit(
            "contacts",
            ids["Mei Chen"],
            {
                "remark": "Great at explaining ML evaluation; ask about the eval harness.",
                "rating": 5,
            },
        )


def make_demo_profile(folder: Path | None = None) -> Path:
    home = folder or Path(tempfile.mkdtemp(prefix="plntui-demo-")) / "profile"
    net = Network.create(home, "Demo User")
    seed(net)
    return home
