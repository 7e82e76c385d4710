"""Provides deterministic, realistic benchmark profiles: generated contacts and notes, built the
way a user builds a network (several contact imports, then notes imports, then notes added one
by one), and a folder of Markdown notes for the notes-import benchmark."""

from __future__ import annotations

import contextlib
import random
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plntui import repo as repo_mod
from plntui.interop.notes_import import NoteDraft
from plntui.network import Network

FIRST_NAMES = (
    "Ada",
    "Aisha",
    "Akira",
    "Alejandro",
    "Alice",
    "Amara",
    "Amir",
    "Ana",
    "Anders",
    "Andrea",
    "Anika",
    "Ananya",
    "Arjun",
    "Astrid",
    "Ayodele",
    "Ben",
    "Bianca",
    "Björn",
    "Camila",
    "Carlos",
    "Chen",
    "Chiara",
    "Chloe",
    "Daniel",
    "Daniela",
    "Deepa",
    "Diego",
    "Dmitri",
    "Elena",
    "Elif",
    "Emeka",
    "Emma",
    "Erik",
    "Esther",
    "Fatima",
    "Felix",
    "Fernanda",
    "Finn",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hassan",
    "Helga",
    "Hiroshi",
    "Ibrahim",
    "Inês",
    "Ingrid",
    "Isabel",
    "Ivan",
    "Jakob",
    "James",
    "Jana",
    "Javier",
    "Jin",
    "João",
    "Jonas",
    "José",
    "Julia",
    "Kai",
    "Kamala",
    "Karin",
    "Kenji",
    "Kofi",
    "Kwame",
    "Lars",
    "Laura",
    "Layla",
    "Leila",
    "Lena",
    "Leo",
    "Liam",
    "Lin",
    "Lucas",
    "Lucia",
    "Luis",
    "Maria",
    "Mariam",
    "Marco",
    "Marta",
    "Mateo",
    "Mei",
    "Mia",
    "Miguel",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nia",
    "Nikhil",
    "Nina",
    "Noah",
    "Nora",
    "Olga",
    "Oliver",
    "Olu",
    "Omar",
    "Oscar",
    "Pablo",
    "Paolo",
    "Pedro",
    "Pia",
    "Priya",
    "Rafael",
    "Rahul",
    "Ravi",
    "Rosa",
    "Ruth",
    "Sakura",
    "Samuel",
    "Sara",
    "Sebastian",
    "Sergei",
    "Shira",
    "Siddharth",
    "Sofia",
    "Sophie",
    "Stefan",
    "Sven",
    "Tariq",
    "Thomas",
    "Tomás",
    "Uma",
    "Valentina",
    "Victor",
    "Wei",
    "Yara",
    "Yuki",
    "Yusuf",
    "Zainab",
    "Zoe",
)
LAST_NAMES = (
    "Abara",
    "Adeyemi",
    "Ahmed",
    "Alvarez",
    "Andersen",
    "Bauer",
    "Becker",
    "Benali",
    "Bianchi",
    "Brown",
    "Carter",
    "Castillo",
    "Chen",
    "Cohen",
    "Costa",
    "da Silva",
    "Demir",
    "Dubois",
    "Eriksson",
    "Fernández",
    "Fischer",
    "Garcia",
    "Gómez",
    "Gonzalez",
    "Gupta",
    "Haddad",
    "Hansen",
    "Hernandez",
    "Hoffmann",
    "Huang",
    "Ibarra",
    "Ito",
    "Jansen",
    "Jensen",
    "Johnson",
    "Kaur",
    "Khan",
    "Kim",
    "Kowalski",
    "Kumar",
    "Laurent",
    "Lee",
    "Lindqvist",
    "López",
    "Martin",
    "Martinez",
    "Mehta",
    "Mensah",
    "Meyer",
    "Moreau",
    "Moreno",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Nowak",
    "Nwosu",
    "Okafor",
    "Olsen",
    "Otieno",
    "Park",
    "Patel",
    "Pérez",
    "Petrov",
    "Popescu",
    "Raman",
    "Reddy",
    "Richter",
    "Rojas",
    "Rossi",
    "Ruiz",
    "Sato",
    "Schmidt",
    "Schneider",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Solberg",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Torres",
    "Tran",
    "Vogel",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wu",
    "Yamamoto",
    "Yılmaz",
    "Zhang",
    "Zhou",
    "Ziegler",
)
ORG_HEADS = (
    "Northwind",
    "Lumen",
    "Fjord",
    "Kijani",
    "Atlas",
    "Brightline",
    "Andes",
    "Bosphorus",
    "Sora",
    "Stadtwerke",
    "Atelier",
    "Meridian",
    "Cobalt",
    "Harbor",
    "Juniper",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Saffron",
    "Tidal",
    "Umbra",
    "Vertex",
    "Willow",
    "Zephyr",
    "Aurora",
    "Beacon",
    "Cascade",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Helix",
    "Iris",
    "Jade",
    "Keystone",
    "Lighthouse",
    "Mosaic",
    "Nova",
    "Onyx",
    "Prism",
    "Quill",
    "Ridge",
    "Summit",
    "Terra",
    "Unity",
    "Vela",
)
ORG_TAILS = (
    "Analytics",
    "Health",
    "Systems",
    "Labs",
    "Consulting",
    "Fintech",
    "Robotics",
    "University",
    "Digital",
    "Data",
    "Software",
    "Cloud",
    "Security",
    "Media",
    "Energy",
    "Logistics",
    "Bank",
    "Insurance",
    "Games",
    "Bio",
    "AI",
    "Networks",
    "Foundation",
    "Collective",
    "Studio",
)
ROLES = (
    "Software engineer",
    "Senior software engineer",
    "Staff engineer",
    "Principal engineer",
    "Engineering manager",
    "Director of engineering",
    "VP engineering",
    "CTO",
    "Data engineer",
    "Data scientist",
    "ML engineer",
    "Research scientist",
    "Product manager",
    "Product designer",
    "UX researcher",
    "Site reliability engineer",
    "Platform engineer",
    "Security engineer",
    "Security architect",
    "Frontend engineer",
    "Backend engineer",
    "Mobile developer",
    "Developer advocate",
    "Technical writer",
    "QA engineer",
    "Test automation lead",
    "Solutions architect",
    "Consultant",
    "Agile coach",
    "Scrum master",
    "Lecturer",
    "Professor",
    "PhD student",
    "Founder",
    "Co-founder",
    "Analytics engineer",
    "Database administrator",
    "Embedded engineer",
    "Community manager",
    "Open source maintainer",
    "Recruiter",
    "Head of data",
    "Chief product officer",
    "Accessibility consultant",
    "Tech lead",
    "Infrastructure engineer",
    "Data visualisation designer",
    "Game developer",
    "Bioinformatician",
)
TOPICS = tuple(
    dict.fromkeys(
        t.strip()
        for line in """
python|rust|go|java|kotlin|scala|typescript|javascript|c++|c#|swift|haskell|elixir|erlang|ocaml
clojure|julia|r|sql|bash|zig|lua|php|ruby|dart|f#|webassembly|machine learning|deep learning
nlp|computer vision|reinforcement learning|mlops|llms|prompt engineering|evaluation
recommender systems|time series|forecasting|causal inference|statistics|bayesian statistics
experimentation|a/b testing|data engineering|data modelling|dbt|airflow|spark|kafka|flink
data warehousing|data lakes|etl|analytics engineering|data visualisation|d3|storytelling
dashboards|business intelligence|postgres|mysql|sqlite|mongodb|redis|elasticsearch|cassandra
clickhouse|duckdb|graph databases|neo4j|distributed systems|crdt|consensus|raft|event sourcing
cqrs|microservices|monoliths|domain-driven design|api design|graphql|grpc|rest|openapi
kubernetes|docker|terraform|ansible|nix|helm|service mesh|observability|opentelemetry
prometheus|grafana|logging|incident response|on-call|chaos engineering|sre|capacity planning
performance tuning|profiling|caching|cdn|networking|tls|dns|http/3|security|threat modelling
cryptography|zero trust|identity|oauth|appsec|penetration testing|supply chain security|sbom
privacy|gdpr|compliance|accessibility|ux research|ux design|interaction design|design systems
figma|frontend|react|vue|svelte|angular|css|web performance|progressive web apps|mobile|ios
android|flutter|react native|embedded|robotics|iot|firmware|fpga|hardware|linux kernel
compilers|programming languages|type systems|formal methods|tla+|property-based testing
testing|tdd|bdd|test automation|qa|continuous delivery|ci/cd|devops|platform engineering
developer experience|inner source|open source|community building|governance|technical writing
documentation|engineering management|hiring|interviewing|onboarding|mentoring|coaching
career development|leadership|team topologies|org design|remote work|facilitation
retrospectives|agile|scrum|kanban|lean|product management|product discovery|roadmapping
user interviews|okrs|strategy|pricing|growth|marketing|sales engineering|startups|fundraising
venture capital|fintech|payments|banking|insurance|healthtech|edtech|climate tech|energy
logistics|e-commerce|gaming|game design|audio|video streaming|local-first|offline-first|sync
peer-to-peer|blockchain|cloud|aws|gcp|azure|serverless|edge computing|finops
cost optimisation|green software|sustainability|ethics|responsible ai|ai safety|fairness
interpretability|quantum computing|hpc|gpu|cuda|scientific computing|bioinformatics|genomics
geospatial|gis|maps|search|information retrieval|vector databases|embeddings|knowledge graphs
semantic web|linked data|digital humanities|public sector|civic tech|open data|nonprofits
teaching|curriculum design|higher education|research methods|writing|public speaking
conference talks|podcasting|newsletters|negotiation|conflict resolution|psychological safety
diversity and inclusion|wellbeing|burnout|productivity|note-taking|knowledge management
zettelkasten|obsidian|emacs|vim|terminal tools|cli design|tui|shell scripting|automation
spreadsheets|excel|no-code|low-code|salesforce|sap|erp|crm|hr tech|legal tech|regtech
supply chain|manufacturing|automotive|aerospace|space|telecom|5g|wasm runtimes|unikernels
""".strip().splitlines()
        for t in line.split("|")
        if t.strip()
    )
)
CITIES = (
    "Berlin",
    "Lisbon",
    "Nairobi",
    "Lagos",
    "Toronto",
    "Austin",
    "Bangalore",
    "Singapore",
    "Tokyo",
    "Seoul",
    "Sydney",
    "Amsterdam",
    "Stockholm",
    "Oslo",
    "Helsinki",
    "Warsaw",
    "Prague",
    "Vienna",
    "Zurich",
    "Barcelona",
    "Madrid",
    "Paris",
    "London",
    "Dublin",
    "Edinburgh",
    "Istanbul",
    "Cairo",
    "Cape Town",
    "Sao Paulo",
    "Buenos Aires",
    "Bogota",
    "Mexico City",
    "Montreal",
    "Vancouver",
    "Seattle",
    "Portland",
    "Boston",
    "Chicago",
    "Copenhagen",
    "Tallinn",
)
EVENTS = (
    "the spring meetup",
    "a regional conference",
    "PyCon",
    "RustConf",
    "KubeCon",
    "Strange Loop",
    "a local-first meetup",
    "a hackathon",
    "a workshop",
    "an unconference",
    "a CTO roundtable",
    "a mentoring programme",
    "a reading group",
    "an open source sprint",
    "FOSDEM",
    "a webinar",
    "a panel discussion",
    "a hiring fair",
    "a product meetup",
    "a data council",
)
MET_TEMPLATES = (
    "Met at {event} in {city}; talked about {topic}",
    "Introduced by a colleague at {org}",
    "Worked together on the {topic} project at {org}",
    "Gave a talk on {topic} at {event}",
    "Reviewed my pull request about {topic}",
    "Same team for two years at {org}",
    "Sat next to each other at {event} in {city}",
    "Answered my question on {topic} in a community forum",
    "Former manager at {org}",
    "Mentoring programme, cohort {n}",
    "Podcast guest on {topic}",
    "Co-organised {event} in {city}",
)
CHANNELS = (
    "in person",
    "conference",
    "Slack",
    "Discord",
    "GitHub",
    "Mastodon",
    "LinkedIn",
    "video calls",
    "newsletter",
    "Matrix",
)
RELATIONSHIPS = ("colleague", "mentor", "mentee", "peer", "professional", "friend", "other")
NOTE_KINDS = ("note", "resource", "template", "review")
NOTE_TITLES = (
    "Reading list: {topic}",
    "Notes from {event}: {topic}",
    "1:1 with {name}",
    "Incident review: {topic}",
    "Talk idea: {topic} for beginners",
    "Workshop notes on {topic}",
    "Questions to ask {name} about {topic}",
    "{topic} resources",
    "Retro: {topic} migration",
    "Interview loop notes ({topic})",
    "Book notes: {topic}",
    "Mentoring {name}: goals",
)
SENTENCES = (
    "{name} recommended starting with the basics of {topic} before anything else.",
    "Key takeaway: measure first, then change one thing at a time.",
    "We compared three approaches to {topic}; the simplest one won on maintenance cost.",
    "Follow up with {name} about the {topic} benchmark they mentioned.",
    "- Read the original paper on {topic}\n- Try the tutorial\n- Write a short summary",
    "The discussion at {event} showed that {topic} adoption is mostly an organisational problem.",
    "Open question: how does {topic} interact with our on-call rotation?",
    "Action items: share the slides, book a follow-up, update the team wiki.",
    "{name} has run {topic} in production for years and is happy to pair on it.",
    "Useful rule of thumb: keep the feedback loop under ten minutes.",
    "Links collected during the session are in the shared folder.",
    "Next time, prepare concrete examples from our own codebase.",
)


@dataclass(slots=True)
class Draft:
    """What ``Network.import_contacts`` takes: contact field values and where they came from."""

    values: dict[str, Any]
    source: str


@dataclass(slots=True)
class BuildStats:
    """How long building a profile took, for the report."""

    contacts: int = 0
    notes: int = 0
    import_batch: int = 0
    note_batch: int = 0
    import_seconds: list[float] = field(default_factory=list)  # one per contact import
    note_batch_seconds: list[float] = field(default_factory=list)  # one per notes import
    note_single_seconds: list[float] = field(default_factory=list)  # net.add, one note each
    index_seconds: float = 0.0  # net.index() at the end (nothing to do when every write kept it)
    total_seconds: float = 0.0


def _ascii(text: str) -> str:
    """``"Yılmaz"`` -> ``"ylmaz"``: what goes into e-mail addresses and URLs."""
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in plain if ch.isascii() and (ch.isalnum() or ch in ".-"))


class Generator:
    """Deterministic realistic data: the same seed gives the same network."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        orgs = [f"{head} {tail}" for head in ORG_HEADS for tail in ORG_TAILS]
        self.rng.shuffle(orgs)
        self.orgs = orgs
        # Zipf-like: a few large employers, a long tail (the top one holds about 2% of people).
        self.org_weights = [1.0 / (rank + 10) for rank in range(len(orgs))]
        self.topic_weights = [1.0 / (rank + 3) ** 0.8 for rank in range(len(TOPICS))]
        self.emails: set[str] = set()
        self.links: set[str] = set()

    def _topics(self, low: int, high: int) -> list[str]:
        count = self.rng.randint(low, high)
        picked = self.rng.choices(TOPICS, weights=self.topic_weights, k=count * 2)
        return list(dict.fromkeys(picked))[:count]

    def contact(self, number: int) -> Draft:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        org = rng.choices(self.orgs, weights=self.org_weights)[0] if rng.random() < 0.9 else ""
        domain = _ascii(org.replace(" ", "")) or rng.choice(("gmail", "proton", "fastmail"))
        domain += rng.choice((".example", ".example.org", ".example.com"))
        local = f"{_ascii(first)}.{_ascii(last)}"
        email = f"{local}@{domain}"
        serial = 2
        while email in self.emails:
            email = f"{local}{serial}@{domain}"
            serial += 1
        self.emails.add(email)
        topics = self._topics(1, 5)
        met = rng.choice(MET_TEMPLATES).format(
            event=rng.choice(EVENTS),
            city=rng.choice(CITIES),
            topic=topics[0],
            org=org or "a previous job",
            n=rng.randint(1, 12),
        )
        values: dict[str, Any] = {
            "name": f"{first} {last}",
            "emails": [email],
            "org": org,
            "role": rng.choice(ROLES),
            "topics": topics,
            "relationship": rng.choice(RELATIONSHIPS),
            "met": met,
            "met_where": rng.choice(CITIES),
            "channel": rng.choice(CHANNELS),
        }
        if rng.random() < 0.3:
            values["phones"] = [
                f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
            ]
        if rng.random() < 0.4:
            link = f"https://www.linkedin.com/in/{_ascii(first)}-{_ascii(last)}-"
            number = rng.randint(1000, 99999)
            while f"{link}{number}" in self.links:  # a known link would merge the two contacts
                number = rng.randint(1000, 99999)
            self.links.add(f"{link}{number}")
            values["links"] = [f"{link}{number}"]
        if rng.random() < 0.4:
            values["last_contacted"] = (  # always in the past: future dates are refused
                f"20{rng.randint(20, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            )
        if rng.random() < 0.25:
            values["cadence_days"] = rng.choice((14, 30, 60, 90, 180))
        if rng.random() < 0.1:
            values["remark"] = f"Ask about {rng.choice(TOPICS)}; prefers async messages."
        if rng.random() < 0.05:
            values["rating"] = rng.randint(1, 5)
        return Draft(values, f"contacts-{number // 1000}.vcf: card {number}")

    def note(self, contact_ids: list[str], names: dict[str, str]) -> dict[str, Any]:
        rng = self.rng
        linked = rng.sample(contact_ids, k=min(len(contact_ids), rng.choice((0, 1, 1, 2, 3))))
        tags = self._topics(1, 4)
        name = names[linked[0]] if linked else f"{rng.choice(FIRST_NAMES)}"
        fill = {"topic": tags[0], "name": name, "event": rng.choice(EVENTS)}
        title = rng.choice(NOTE_TITLES).format(**fill)
        body_parts: list[str] = [f"# {title}", ""]
        target = rng.randint(200, 600)
        while sum(len(p) + 1 for p in body_parts) < target:
            fill["topic"] = rng.choice(tags)
            body_parts.append(rng.choice(SENTENCES).format(**fill))
        return {
            "title": title,
            "body": "\n".join(body_parts) + "\n",
            "tags": tags,
            "kind": rng.choice(NOTE_KINDS),
            "contacts": linked,
        }


def contact_batch(contacts: int) -> int:
    """Contacts per import: 1,000 at 10,000 (10 imports), 5,000 at 100,000 (20 imports)."""
    return max(1_000, contacts // 20)


def note_batch(notes: int) -> int:
    """Notes per import: 500 at 2,000 notes (4 imports), 2,000 at 20,000 (10 imports)."""
    return max(500, notes // 10)


@contextlib.contextmanager
def roomy_cache(enabled: bool = True) -> Iterator[None]:
    """Bench shortcut for building only: let the repository keep every contact shard loaded.

    The repository keeps at most ``repo.CACHE_BYTES`` of documents (an estimate); an import of
    thousands of contacts touches every shard many times, and with the default budget the
    shards are dropped and loaded again and again (bench/README.md, finding 8). The
    documents written are the same; only the building process's memory policy differs. The
    rows that time an import use the product's defaults.
    """
    if not enabled:
        yield
        return
    saved = repo_mod.CACHE_BYTES
    repo_mod.CACHE_BYTES = 1 << 46
    try:
        yield
    finally:
        repo_mod.CACHE_BYTES = saved


def note_drafts(
    gen: Generator, ids: list[str], names: dict[str, str], count: int, first: int
) -> list[NoteDraft]:
    """``count`` generated notes as a notes import reads them (linked contacts by id)."""
    drafts = []
    for n in range(count):
        values = gen.note(ids, names)
        values["contact_refs"] = values.pop("contacts")
        drafts.append(NoteDraft(values, f"vault/note-{first + n:05d}.md"))
    return drafts


def build_profile(
    home: Path,
    contacts: int,
    notes: int | None = None,
    *,
    seed: int = 42,
    import_batch: int | None = None,
    notes_batch: int | None = None,
    single_notes: int = 20,
    fast_cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> BuildStats:
    """Create a profile in ``home`` with ``contacts`` contacts and ``notes`` notes (default
    ``contacts // 5``), all in the default circle.

    Contacts arrive as several imports (``Network.import_contacts``, one transaction each),
    notes as several notes imports (``Network.import_notes``, one transaction each) and the
    last ``single_notes`` one by one (``net.add``, each its own durable commit, timed), as a
    user adds them. Every write keeps the search index fresh, so the profile is ready to
    search when this returns (``net.index()`` is called to make sure).
    """
    gen = Generator(seed + contacts)
    notes = contacts // 5 if notes is None else notes
    stats = BuildStats(contacts=contacts, notes=notes)
    stats.import_batch = import_batch or contact_batch(contacts)
    stats.note_batch = notes_batch or note_batch(notes)
    started = time.perf_counter()
    net = Network.create(home, "Bench User")
    with roomy_cache(fast_cache):
        number = 0
        while number < contacts:
            size = min(stats.import_batch, contacts - number)
            drafts = [gen.contact(number + i) for i in range(size)]
            t0 = time.perf_counter()
            summary = net.import_contacts(drafts, f"contacts-{len(stats.import_seconds)}.vcf")
            stats.import_seconds.append(time.perf_counter() - t0)
            if summary.rejected or summary.merged:
                raise RuntimeError(
                    f"generated contacts were rejected or merged: {summary.rejected[:3]} "
                    f"{[s for _, s in summary.merged[:3]]}"
                )
            number += size
            if log:
                log(
                    f"  imported {number:,}/{contacts:,} contacts "
                    f"({stats.import_seconds[-1]:.2f} s for {size:,})"
                )
        everyone = net.contacts()
        ids = [c.id for c in everyone]
        names = {c.id: c.label for c in everyone}
        del everyone
        bulk = max(0, notes - single_notes)
        done = 0
        for chunk in _chunks(bulk, stats.note_batch):
            notes_read = note_drafts(gen, ids, names, chunk, done)
            t0 = time.perf_counter()
            summary = net.import_notes(notes_read)
            stats.note_batch_seconds.append(time.perf_counter() - t0)
            if summary.rejected or len(summary.added) != chunk:
                raise RuntimeError(f"generated notes were rejected: {summary.rejected[:3]}")
            done += chunk
            # keep the shards (linked contacts are checked there), let the notes go
            net.repo.drop([d for d in net.repo.loaded() if d.startswith("n:")])
            if log:
                log(f"  imported {done:,}/{notes:,} notes ({stats.note_batch_seconds[-1]:.2f} s)")
    net.repo.drop(net.repo.loaded())  # what a fresh process holds: nothing
    for _ in range(notes - bulk):
        values = gen.note(ids, names)
        t0 = time.perf_counter()
        net.add("notes", values)
        stats.note_single_seconds.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    net.index()
    stats.index_seconds = time.perf_counter() - t0
    net.profile.close()
    stats.total_seconds = time.perf_counter() - started
    return stats


def write_markdown_vault(
    folder: Path, count: int, *, seed: int = 7, names: list[str] | None = None
) -> int:
    """``count`` Markdown notes as an Obsidian vault lays them out: front matter (title, tags,
    kind, created, linked contacts by name), a body of 200-600 characters, in subfolders of 100.
    Returns the bytes written."""
    gen = Generator(seed)
    people = names or [f"{f} {s}" for f in FIRST_NAMES[:20] for s in LAST_NAMES[:20]]
    written = 0
    for n in range(count):
        values = gen.note([], {})
        linked = gen.rng.sample(people, k=gen.rng.choice((0, 0, 1, 2)))
        lines = [
            "---",
            f'title: "{values["title"].replace(chr(34), chr(39))}"',
            "tags: [" + ", ".join(values["tags"]) + "]",
            f"kind: {values['kind']}",
            f"created: 2026-{1 + n % 12:02d}-{1 + n % 28:02d}T09:{n % 60:02d}:00Z",
        ]
        if linked:
            lines.append("contacts: [" + ", ".join(linked) + "]")
        lines += ["---", "", values["body"]]
        path = folder / f"area-{n // 100:03d}" / f"note-{n:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "\n".join(lines).encode()
        path.write_bytes(data)
        written += len(data)
    return written


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size
