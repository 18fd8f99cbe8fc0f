"""Google Forms API v1 sandbox: ``forms.get``, ``forms.responses.list/get`` and Google's OAuth token endpoint.

Wire format follows the public reference (developers.google.com/workspace/forms/api/reference/rest/v1):

* ``GET /v1/forms/{formId}`` returns the ``Form`` resource (``info``, ``settings``, ``items``, ``revisionId``,
  ``responderUri``, ``publishSettings``).
* ``GET /v1/forms/{formId}/responses?filter=&pageSize=&pageToken=`` returns ``{"responses": [...],
  "nextPageToken": "..."}`` (``{}`` when nothing matches). ``formId`` is left out of listed responses, as the
  reference says. ``filter`` accepts only ``timestamp > T`` / ``timestamp >= T`` (RFC 3339 Zulu, up to nine
  fractional digits) on ``lastSubmittedTime``; ``pageSize`` is capped at 5000; a ``pageToken`` is only valid
  with the filter of the request that produced it. Listing order is by ``responseId`` (not by time), so a
  client cannot rely on it.
* ``POST /token`` speaks Google's OAuth 2.0 token endpoint: ``refresh_token`` grant (client id/secret) and the
  service-account ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant (an RS256 JWT verified against the
  service account's public key). Errors use Google's ``{"error": ..., "error_description": ...}`` bodies.
* Errors on the API use ``{"error": {"code", "message", "status", "details"?}}``: 401 UNAUTHENTICATED,
  403 PERMISSION_DENIED (no access to the form, or insufficient scopes), 404 NOT_FOUND, 400 INVALID_ARGUMENT,
  429 RESOURCE_EXHAUSTED.

Sandbox-only switches: the generic ones of ``core`` (429 storms, 503s, token expiry...) plus
``{"expire_sync": true}``, which invalidates every outstanding page token (the API then answers 400), and
``POST /_sandbox/forms/faults {"expire_tokens_after": N, "expire_page_tokens_after": N}``, which does either
right after the next N successful API calls (to hit a run in the middle). Tests
and scripts can add, edit and delete responses with methods on the app or over ``/_sandbox/forms/...``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import re
import string
import time
from dataclasses import dataclass, field
from importlib import resources

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import ProviderApp

SCOPE = "https://www.googleapis.com/auth/"
#: Scopes that allow reading responses / the form body (from the reference's "Authorization scopes").
RESPONSE_SCOPES = frozenset(SCOPE + s for s in ("forms.responses.readonly", "drive", "drive.file", "drive.readonly"))
BODY_SCOPES = frozenset(
    SCOPE + s for s in ("forms.body", "forms.body.readonly", "drive", "drive.file", "drive.readonly")
)
READONLY_SCOPES = (SCOPE + "forms.body.readonly", SCOPE + "forms.responses.readonly")

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_PAGE_SIZE = 5000

#: The OAuth client the clinic registered (a "Desktop app" client in Google Cloud console).
OAUTH_CLIENT_ID = "406822316870-l0rch3str4sandb0x.apps.googleusercontent.com"
OAUTH_CLIENT_SECRET = "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"  # noqa: S105 - sandbox-only value

ADMIN = "clinic-admin@northside-clinic.example"
INTAKE = "intake-coordinator@northside-clinic.example"
RECEPTION = "reception@northside-clinic.example"
SERVICE_ACCOUNT = "forms-reader@lorchestra-sandbox.iam.gserviceaccount.com"

#: Refresh tokens issued to the clinic's users, with the scopes they consented to.
REFRESH_TOKENS: dict[str, tuple[str, frozenset[str]]] = {
    "1//0gSbxAdminQ7tLcIARAAGBASNwF-L9IrWk3yJ2pV8nHq": (ADMIN, frozenset(READONLY_SCOPES)),
    "1//0gSbxIntakeR4mPdIARAAGBASNwF-L9IrXc5vK8sT1eB": (INTAKE, frozenset(READONLY_SCOPES)),
    "1//0gSbxReceptionW2nLIARAAGBASNwF-L9IrZt7hQ3mD": (RECEPTION, frozenset(READONLY_SCOPES)),
}
ADMIN_REFRESH_TOKEN, INTAKE_REFRESH_TOKEN, NO_ACCESS_REFRESH_TOKEN = REFRESH_TOKENS

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")
_FILTER = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\S+)\s*$")


# -- timestamps (nanosecond precision, like the API) ----------------------------------------------


def format_timestamp(ns: int) -> str:
    """RFC 3339 Zulu with 0, 3, 6 or 9 fractional digits, as Google's JSON mapping of Timestamp does."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"


def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 Zulu timestamp, or None if it is not one."""
    match = _TS.match(text)
    if not match:
        return None
    try:
        base = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    nanos = int((match.group(2) or "0").ljust(9, "0"))
    return int(base.timestamp()) * 1_000_000_000 + nanos


def _ns(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


# -- data model -----------------------------------------------------------------------------------


@dataclass
class StoredResponse:
    """One FormResponse; times are kept in nanoseconds and rendered on the way out."""

    response_id: str
    create_ns: int
    last_ns: int
    answers: dict[str, dict]
    respondent_email: str | None = None
    total_score: float | None = None

    def resource(self, form_id: str | None = None) -> dict:
        body: dict = {}
        if form_id is not None:
            body["formId"] = form_id
        body["responseId"] = self.response_id
        body["createTime"] = format_timestamp(self.create_ns)
        body["lastSubmittedTime"] = format_timestamp(self.last_ns)
        if self.respondent_email is not None:
            body["respondentEmail"] = self.respondent_email
        body["answers"] = self.answers
        if self.total_score is not None:
            body["totalScore"] = self.total_score
        return body


@dataclass
class StoredForm:
    """A form: its resource, who may read it, its responses and how new answers are made up."""

    connection: str
    form: dict
    readers: set[str]
    answer_maker: AnswerMaker
    collect_email: bool
    responses: dict[str, StoredResponse] = field(default_factory=dict)

    @property
    def form_id(self) -> str:
        return self.form["formId"]


class AnswerMaker:
    """Builds plausible answers for the questions of one form."""

    def __init__(self, questions: list[dict]) -> None:
        self.questions = questions  # [{"questionId", "kind", "options"?, "low"/"high"?, "required"}]

    def answers(self, rng: random.Random, person: dict) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for q in self.questions:
            if not q["required"] and rng.random() < 0.3:
                continue
            answer = q["make"](rng, person)
            if answer is None:
                continue
            out[q["questionId"]] = {"questionId": q["questionId"], **answer}
        return out


def _text(*values: str) -> dict:
    return {"textAnswers": {"answers": [{"value": v} for v in values]}}


# -- fake people ----------------------------------------------------------------------------------

FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Wei",
    "Sofia",
    "Daniel",
    "Priya",
    "Lucas",
    "Fatima",
    "Ethan",
    "Hannah",
    "Mateo",
    "Grace",
    "Omar",
    "Chloe",
    "Noah",
    "Isabella",
    "Kwame",
    "Yuki",
    "Elena",
    "Samuel",
    "Leila",
    "Diego",
    "Nora",
    "Tomasz",
    "Amara",
    "Jonah",
    "Mei",
    "Rafael",
    "Zoe",
    "Ibrahim",
    "Ava",
    "Sven",
    "Lina",
]
LAST = [
    "Gonzalez",
    "Okafor",
    "Chen",
    "Patel",
    "Nguyen",
    "Schmidt",
    "Haddad",
    "Kowalski",
    "Johnson",
    "Silva",
    "Moreau",
    "Tanaka",
    "Rahman",
    "O'Brien",
    "Adeyemi",
    "Lindqvist",
    "Costa",
    "Novak",
    "Hughes",
    "Kim",
    "Rossi",
    "Mensah",
    "Ivanova",
    "Fischer",
    "Duarte",
    "Walsh",
    "Yamamoto",
    "Bauer",
    "Ortiz",
    "Singh",
]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com"]
STREETS = ["Maple Ave", "Oak Street", "Cedar Lane", "Lakeview Dr", "Hillcrest Rd", "Elm Court", "Birch Way"]
CITIES = ["Springfield", "Riverton", "Fairview", "Greenville", "Oakdale"]
INSURERS = ["Aetna", "Blue Cross Blue Shield", "Cigna", "UnitedHealthcare", "Medicaid", "Self-pay"]
THERAPISTS = ["Dr. Amelia Hart, PsyD", "Jordan Ellis, LCSW", "Dr. Samir Qureshi, PhD", "Renee Paulsen, LMFT"]
REASONS = [
    "I've been feeling anxious most days and it's affecting my sleep.",
    "Ongoing low mood since a job loss earlier this year.",
    "Relationship difficulties with my partner; we argue a lot.",
    "Grief after my father passed away in the spring.",
    "Panic attacks at work, a few times a week.",
    "Trouble concentrating and keeping up with school.",
    "My doctor recommended talking to someone about stress.",
    "Difficulty adjusting after moving to a new city.",
]
MEDS = ["None", "Sertraline 50 mg daily", "Escitalopram 10 mg", "Bupropion XL 150 mg", "Levothyroxine", ""]
CONCERNS = ["Anxiety", "Low mood", "Behavior at school", "Sleep problems", "Attention / focus", "Peer conflict"]
PHQ_COLUMNS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def _person(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}".lower().replace("'", "")
    if rng.random() < 0.5:
        local += str(rng.randint(1, 99))
    birth = dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
    return {
        "first": first,
        "last": last,
        "email": f"{local}@{rng.choice(DOMAINS)}",
        "phone": f"(555) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        "birth": birth.isoformat(),
        "traits": {d: rng.gauss(0, 1) for d in "NEOAC"},
        "distress": rng.random(),
    }


def _hexid(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}"


def _response_id(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "ACYDBN" + "".join(rng.choice(alphabet) for _ in range(64))


def _drive_id(rng: random.Random, length: int = 44) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "1" + "".join(rng.choice(alphabet) for _ in range(length - 1))


# -- the four forms of the product spec -----------------------------------------------------------


class _FormBuilder:
    """Assembles a Form resource and the matching answer makers."""

    def __init__(self, rng: random.Random, title: str, description: str, *, email: str) -> None:
        self.rng = rng
        self.form_id = _drive_id(rng)
        self.items: list[dict] = []
        self.questions: list[dict] = []
        self.form = {
            "formId": self.form_id,
            "info": {"title": title, "description": description, "documentTitle": title},
            "settings": {"quizSettings": {}, "emailCollectionType": email},
            "items": self.items,
            "revisionId": f"{rng.randint(10, 300):08d}",
            "responderUri": "https://docs.google.com/forms/d/e/1FAIpQLS" + _drive_id(rng, 48)[1:] + "/viewform",
            "publishSettings": {"publishState": {"isPublished": True, "isAcceptingResponses": True}},
        }

    def _item(self, title: str, body: dict, description: str | None = None) -> dict:
        item = {"itemId": _hexid(self.rng), "title": title}
        if description:
            item["description"] = description
        item.update(body)
        self.items.append(item)
        return item

    def question(self, title: str, kind: dict, make, *, required: bool = True, description: str | None = None):
        qid = _hexid(self.rng)
        question = {"questionId": qid, "required": required, **kind} if required else {"questionId": qid, **kind}
        self._item(title, {"questionItem": {"question": question}}, description)
        self.questions.append({"questionId": qid, "required": required, "make": make})

    def grid(self, title: str, rows: list[str], columns: list[str], make_row, *, description: str | None = None):
        questions = []
        for index, row in enumerate(rows):
            qid = _hexid(self.rng)
            questions.append({"questionId": qid, "required": True, "rowQuestion": {"title": row}})
            self.questions.append(
                {"questionId": qid, "required": True, "make": lambda r, p, i=index: make_row(r, p, i)}
            )
        grid = {"columns": {"type": "RADIO", "options": [{"value": c} for c in columns]}}
        self._item(title, {"questionGroupItem": {"questions": questions, "grid": grid}}, description)

    def page_break(self, title: str, description: str | None = None) -> None:
        self._item(title, {"pageBreakItem": {}}, description)

    def text_item(self, title: str, description: str) -> None:
        self._item(title, {"textItem": {}}, description)


def _choice(kind: str, values: list[str], *, other: bool = False) -> dict:
    options: list[dict] = [{"value": v} for v in values]
    if other:
        options.append({"isOther": True})
    return {"choiceQuestion": {"type": kind, "options": options}}


def _ipip120(rng: random.Random) -> tuple[_FormBuilder, bool]:
    data = json.loads(resources.files("lorchestra_sandbox").joinpath("data/forms/ipip_neo_120.json").read_text())
    options: list[str] = data["options"]
    facets: dict[str, list] = data["facets"]
    order = [f"{d}{n}" for n in range(1, 7) for d in "NEOAC"]  # N1 E1 O1 A1 C1 N2 ... as administered
    items = [(facet, *facets[facet][r]) for r in range(4) for facet in order]
    b = _FormBuilder(
        rng,
        "IPIP-NEO-120 Personality Inventory",
        "Describe yourself as you generally are now, not as you wish to be in the future. "
        "Your answers are confidential and reviewed only by your clinician.",
        email="VERIFIED",
    )
    b.question(
        "Client ID (from your welcome letter)",
        {"textQuestion": {}},
        lambda r, p: _text(f"NC-{r.randint(10000, 99999)}"),
    )

    def rate(r: random.Random, p: dict, i: int, page: list) -> dict:
        facet, _, keyed = page[i]
        mean = 2 + keyed * p["traits"][facet[0]] * 0.9
        return _text(options[max(0, min(4, round(r.gauss(mean, 0.9))))])

    for start in range(0, 120, 20):
        page = items[start : start + 20]
        b.page_break(f"Statements {start + 1}-{start + 20}")
        b.grid(
            "How accurately does each statement describe you?",
            [text for _, text, _ in page],
            options,
            lambda r, p, i, page=page: rate(r, p, i, page),
        )
    return b, True


def _intake_adult(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "New Client Intake - Adult",
        "Please complete before your first appointment. Northside Counseling Clinic keeps this information "
        "confidential under HIPAA.",
        email="RESPONDER_INPUT",
    )
    b.question("Full legal name", {"textQuestion": {}}, lambda r, p: _text(f"{p['first']} {p['last']}"))
    b.question(
        "Preferred name",
        {"textQuestion": {}},
        lambda r, p: _text(p["first"][:3]) if r.random() < 0.3 else None,
        required=False,
    )
    b.question("Date of birth", {"dateQuestion": {"includeYear": True}}, lambda r, p: _text(p["birth"]))
    b.question(
        "Pronouns",
        _choice("RADIO", ["she/her", "he/him", "they/them"], other=True),
        lambda r, p: _text(r.choice(["she/her", "he/him", "they/them", "ze/zir"])),
        required=False,
    )
    b.question("Mobile phone", {"textQuestion": {}}, lambda r, p: _text(p["phone"]))
    b.question(
        "Home address",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: _text(
            f"{r.randint(10, 9999)} {r.choice(STREETS)}\n{r.choice(CITIES)}, IL 6{r.randint(1000, 2999)}"
        ),
    )
    b.question(
        "Emergency contact (name, relationship, phone)",
        {"textQuestion": {}},
        lambda r, p: _text(
            f"{r.choice(FIRST)} {p['last']}, {r.choice(['spouse', 'parent', 'sibling', 'friend'])}, "
            f"(555) {r.randint(200, 999)}-{r.randint(1000, 9999)}"
        ),
    )
    b.page_break("About your visit")
    b.question(
        "What brings you to counseling?", {"textQuestion": {"paragraph": True}}, lambda r, p: _text(r.choice(REASONS))
    )
    b.question(
        "Have you received counseling before?",
        _choice("RADIO", ["Yes", "No"]),
        lambda r, p: _text(r.choice(["Yes", "No"])),
    )
    b.question(
        "Current medications (name and dose)",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: _text(m) if (m := r.choice(MEDS)) else None,
        required=False,
    )
    b.question("Insurance provider", _choice("DROP_DOWN", INSURERS), lambda r, p: _text(r.choice(INSURERS)))
    slots = ["Weekday mornings", "Weekday afternoons", "Weekday evenings", "Saturday mornings"]
    b.question(
        "Preferred appointment times",
        _choice("CHECKBOX", slots),
        lambda r, p: _text(*sorted(r.sample(slots, r.randint(1, 3)), key=slots.index)),
    )
    b.grid(
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        ["Little interest or pleasure in doing things", "Feeling down, depressed, or hopeless"],
        PHQ_COLUMNS,
        lambda r, p, i: _text(PHQ_COLUMNS[min(3, int(p["distress"] * 4 * r.uniform(0.6, 1.2)))]),
        description="PHQ-2",
    )
    b.page_break("Consent")
    b.text_item("Consent to treatment", "I consent to assessment and treatment at Northside Counseling Clinic.")
    b.question("Consent", _choice("CHECKBOX", ["I agree"]), lambda r, p: _text("I agree"))
    b.question("Signature (type your full name)", {"textQuestion": {}}, lambda r, p: _text(f"{p['first']} {p['last']}"))
    return b, True


def _intake_child(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "New Client Intake - Child & Adolescent (Parent/Guardian)",
        "To be completed by a parent or legal guardian for clients under 18.",
        email="RESPONDER_INPUT",
    )
    b.question("Child's full name", {"textQuestion": {}}, lambda r, p: _text(f"{r.choice(FIRST)} {p['last']}"))
    b.question(
        "Child's date of birth",
        {"dateQuestion": {"includeYear": True}},
        lambda r, p: _text(dt.date(r.randint(2009, 2021), r.randint(1, 12), r.randint(1, 28)).isoformat()),
    )
    b.question("Parent/guardian name", {"textQuestion": {}}, lambda r, p: _text(f"{p['first']} {p['last']}"))
    b.question(
        "Relationship to child",
        _choice("RADIO", ["Mother", "Father", "Legal guardian"], other=True),
        lambda r, p: _text(r.choice(["Mother", "Father", "Legal guardian", "Grandmother"])),
    )
    b.question(
        "School and grade",
        {"textQuestion": {}},
        lambda r, p: _text(
            f"{r.choice(CITIES)} {r.choice(['Elementary', 'Middle School', 'High School'])}, grade {r.randint(1, 12)}"
        ),
        required=False,
    )
    b.question(
        "Main concerns (check all that apply)",
        _choice("CHECKBOX", CONCERNS, other=True),
        lambda r, p: _text(*sorted(r.sample(CONCERNS, r.randint(1, 3)), key=CONCERNS.index)),
    )
    b.question(
        "Please describe your concerns",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: _text(r.choice(REASONS).replace("I've", "They've").replace("my ", "their ")),
    )
    b.question(
        "Best time to call you",
        {"timeQuestion": {}},
        lambda r, p: _text(f"{r.randint(8, 18):02d}:{r.choice(['00', '15', '30', '45'])}"),
        required=False,
    )
    b.question(
        "Custody or guardianship documents (if applicable)",
        {
            "fileUploadQuestion": {
                "folderId": _drive_id(rng, 33),
                "types": ["PDF", "IMAGE"],
                "maxFiles": 3,
                "maxFileSize": "10485760",
            }
        },
        lambda r, p: (
            {
                "fileUploadAnswers": {
                    "answers": [
                        {
                            "fileId": _drive_id(r, 33),
                            "fileName": f"custody_order - {p['first']} {p['last']}.pdf",
                            "mimeType": "application/pdf",
                        }
                    ]
                }
            }
            if r.random() < 0.25
            else None
        ),
        required=False,
    )
    return b, True


def _followup(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "Session Follow-up Check-in",
        "A two-minute check-in after your session. Your therapist reviews this before your next visit.",
        email="DO_NOT_COLLECT",
    )
    b.question(
        "Session date",
        {"dateQuestion": {"includeYear": True}},
        lambda r, p: _text(dt.date(2026, r.randint(1, 9), r.randint(1, 28)).isoformat()),
    )
    b.question("Your therapist", _choice("DROP_DOWN", THERAPISTS), lambda r, p: _text(r.choice(THERAPISTS)))
    b.question(
        "How helpful was today's session?",
        {"scaleQuestion": {"low": 1, "high": 10, "lowLabel": "Not helpful", "highLabel": "Very helpful"}},
        lambda r, p: _text(str(max(1, min(10, round(r.gauss(7.5, 1.8)))))),
    )
    b.question(
        "Overall, how would you rate your experience?",
        {"ratingQuestion": {"ratingScaleLevel": 5, "iconType": "STAR"}},
        lambda r, p: _text(str(r.choice([3, 4, 4, 5, 5, 5]))),
    )
    b.grid(
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        ["Feeling nervous, anxious, or on edge", "Not being able to stop or control worrying"],
        PHQ_COLUMNS,
        lambda r, p, i: _text(PHQ_COLUMNS[min(3, int(p["distress"] * 4 * r.uniform(0.5, 1.1)))]),
        description="GAD-2",
    )
    b.question(
        "What was most helpful?",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: _text(
            r.choice(
                [
                    "Breathing exercises",
                    "Talking through the week",
                    "The thought record",
                    "Feeling listened to",
                    "Planning for the family visit",
                ]
            )
        ),
        required=False,
    )
    b.question(
        "Would you like a call from the clinic before your next session?",
        _choice("RADIO", ["Yes", "No"]),
        lambda r, p: _text("Yes" if p["distress"] > 0.85 else "No"),
    )
    return b, False


#: connection name -> (seed, builder, responses, readers)
CATALOG = {
    "google-forms-ipip120": (120, _ipip120, 60, {ADMIN, SERVICE_ACCOUNT}),
    "google-forms-intake-01": (101, _intake_adult, 150, {ADMIN, INTAKE}),
    "google-forms-intake-02": (102, _intake_child, 90, {ADMIN, INTAKE}),
    "google-forms-followup": (203, _followup, 240, {ADMIN, SERVICE_ACCOUNT}),
}
#: Which credential each connection uses in the sandbox (the tap supports both kinds for any connection).
CONNECTION_AUTH = {
    "google-forms-ipip120": "service_account",
    "google-forms-intake-01": INTAKE_REFRESH_TOKEN,
    "google-forms-intake-02": INTAKE_REFRESH_TOKEN,
    "google-forms-followup": ADMIN_REFRESH_TOKEN,
}
SEED_START = _ns(2025, 2, 3)
SEED_END = _ns(2026, 9, 30)


def _seed(connection: str) -> StoredForm:
    seed, build, count, readers = CATALOG[connection]
    rng = random.Random(seed)  # noqa: S311 - deterministic fake data
    builder, collect_email = build(rng)
    stored = StoredForm(connection, builder.form, set(readers), AnswerMaker(builder.questions), collect_email)
    for _ in range(count):
        create = rng.randint(SEED_START, SEED_END)
        # Google keeps micro- or nanosecond precision; some land on whole seconds or milliseconds.
        create -= create % rng.choice([1, 1_000, 1_000_000, 1_000_000_000])
        last = create
        if rng.random() < 0.15:  # edited later by the respondent
            last = create + rng.randint(60, 20 * 86400) * 1_000_000_000 + rng.randint(0, 999_999) * 1_000
        _add(stored, rng, create, last)
    return stored


def _add(stored: StoredForm, rng: random.Random, create_ns: int, last_ns: int) -> StoredResponse:
    person = _person(rng)
    response = StoredResponse(
        response_id=_response_id(rng),
        create_ns=create_ns,
        last_ns=last_ns,
        answers=stored.answer_maker.answers(rng, person),
        respondent_email=person["email"] if stored.collect_email else None,
    )
    stored.responses[response.response_id] = response
    return response


# -- service account keys -------------------------------------------------------------------------


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    private_key: rsa.RSAPrivateKey
    domain_wide_delegation: bool = False

    def key_file(self) -> dict:
        """The JSON key file Google Cloud console would let you download."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": "lorchestra-sandbox",
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.email,
            "client_id": "104729365201948573612",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- the app --------------------------------------------------------------------------------------


class FormsApp(ProviderApp):
    """Google Forms API v1 for the four forms of the product spec."""

    name = "google_forms"
    token_paths = ("/token",)

    def __init__(self) -> None:
        self.forms: dict[str, StoredForm] = {}
        for connection in CATALOG:
            stored = _seed(connection)
            self.forms[stored.form_id] = stored
        self.by_connection = {f.connection: f.form_id for f in self.forms.values()}
        self.grants: dict[str, tuple[str, frozenset[str]]] = {}  # access token -> (principal, scopes)
        self.refresh_tokens = dict(REFRESH_TOKENS)
        self.service_accounts = {
            SERVICE_ACCOUNT: ServiceAccount(
                SERVICE_ACCOUNT,
                f"{random.Random(7).getrandbits(160):040x}",  # noqa: S311
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
            )
        }
        self.page_token_generation = 0
        #: Mid-run switches: after N more successful API calls, expire access tokens / page tokens.
        self.countdowns: dict[str, int] = {}
        self._rng = random.Random(2024)  # noqa: S311 - deterministic fake data
        super().__init__()

    # -- routes ---------------------------------------------------------------------------------

    def routes(self):
        return [
            Rule("/v1/forms/<form_id>", endpoint=self.get_form, methods=["GET"]),
            Rule("/v1/forms/<form_id>/responses", endpoint=self.list_responses, methods=["GET"]),
            Rule("/v1/forms/<form_id>/responses/<response_id>", endpoint=self.get_response, methods=["GET"]),
        ]

    def control_routes(self):
        return [
            Rule("/_sandbox/forms/config/<connection>", endpoint=self._config_route, methods=["GET"]),
            Rule("/_sandbox/forms/faults", endpoint=self._faults_route, methods=["POST"]),
            Rule("/_sandbox/forms/<form_id>/responses", endpoint=self._submit_route, methods=["POST"]),
            Rule(
                "/_sandbox/forms/<form_id>/responses/<response_id>/edit",
                endpoint=self._edit_route,
                methods=["POST"],
            ),
            Rule(
                "/_sandbox/forms/<form_id>/responses/<response_id>",
                endpoint=self._delete_route,
                methods=["DELETE"],
            ),
        ]

    # -- errors in Google's shape ---------------------------------------------------------------

    def error(self, status: int, code: str, message: str, details: list | None = None) -> Response:
        if status == 429:
            message = (
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
                "of service 'forms.googleapis.com' for consumer 'project_number:406822316870'."
            )
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "forms.googleapis.com",
                        "quota_metric": "forms.googleapis.com/read_requests",
                        "quota_limit": "ReadRequestsPerMinutePerUser",
                    },
                }
            ]
        body: dict = {"code": status, "message": message, "status": code}
        if details:
            body["details"] = details
        return self.json({"error": body}, status)

    # -- API endpoints --------------------------------------------------------------------------

    def _authorize(self, request: Request, form_id: str, needed: frozenset[str]) -> StoredForm | Response:
        principal, scopes = self.grants.get(
            request.headers.get("Authorization", "").removeprefix("Bearer "), ("", frozenset())
        )
        if not scopes & needed:
            return self.error(
                403,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com",
                        "metadata": {"service": "forms.googleapis.com", "method": "google.apps.forms.v1.FormsService"},
                    }
                ],
            )
        stored = self.forms.get(form_id)
        if stored is None:
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        if principal not in stored.readers:
            return self.error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return stored

    def _count_down(self) -> None:
        """After a successful API answer: run the switches whose countdown ends with it."""
        for switch in list(self.countdowns):
            self.countdowns[switch] -= 1
            if self.countdowns[switch] > 0:
                continue
            del self.countdowns[switch]
            if switch == "expire_tokens_after":
                self.tokens.expire_all()
            else:
                self.on_expire_sync()

    def schedule(self, *, expire_tokens_after: int | None = None, expire_page_tokens_after: int | None = None) -> None:
        """Expire every access token / page token right after the next N successful API calls."""
        with self.lock:
            for switch, value in (
                ("expire_tokens_after", expire_tokens_after),
                ("expire_page_tokens_after", expire_page_tokens_after),
            ):
                if value is not None:
                    self.countdowns[switch] = int(value)

    def get_form(self, request: Request, form_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, BODY_SCOPES)
            if isinstance(stored, Response):
                return stored
            self._count_down()
            return self.json(stored.form)

    def get_response(self, request: Request, form_id: str, response_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, RESPONSE_SCOPES)
            if isinstance(stored, Response):
                return stored
            response = stored.responses.get(response_id)
            if response is None:
                return self.error(404, "NOT_FOUND", "Requested entity was not found.")
            self._count_down()
            return self.json(response.resource(form_id))

    def list_responses(self, request: Request, form_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, RESPONSE_SCOPES)
            if isinstance(stored, Response):
                return stored
            filter_text = request.args.get("filter", "")
            bound = self._parse_filter(filter_text)
            if isinstance(bound, Response):
                return bound
            try:
                page_size = int(request.args.get("pageSize", "0") or 0)
            except ValueError:
                return self.error(400, "INVALID_ARGUMENT", "Invalid value at 'page_size' (TYPE_INT32)")
            if page_size < 0:
                return self.error(400, "INVALID_ARGUMENT", "page_size must not be negative")
            page_size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
            after = ""
            if token := request.args.get("pageToken"):
                decoded = self._decode_page_token(token, form_id, filter_text)
                if isinstance(decoded, Response):
                    return decoded
                after = decoded
            matching = sorted(
                (r for r in stored.responses.values() if bound(r.last_ns) and r.response_id > after),
                key=lambda r: r.response_id,
            )
            page = matching[:page_size]
            body: dict = {}
            if page:
                body["responses"] = [r.resource() for r in page]
            if len(matching) > page_size:
                body["nextPageToken"] = self._encode_page_token(form_id, filter_text, page[-1].response_id)
            self._count_down()
            return self.json(body)

    def _parse_filter(self, text: str):
        if not text:
            return lambda _ns: True
        match = _FILTER.match(text)
        when = parse_timestamp(match.group(2)) if match else None
        if match is None or when is None:
            return self.error(
                400,
                "INVALID_ARGUMENT",
                f"Invalid filter: {text!r}. Supported filters are 'timestamp > N' and 'timestamp >= N' "
                'with N an RFC3339 UTC "Zulu" timestamp.',
            )
        if match.group(1) == ">":
            return lambda ns: ns > when
        return lambda ns: ns >= when

    def _encode_page_token(self, form_id: str, filter_text: str, after: str) -> str:
        raw = json.dumps({"f": form_id, "q": filter_text, "a": after, "g": self.page_token_generation})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _decode_page_token(self, token: str, form_id: str, filter_text: str) -> str | Response:
        try:
            data = json.loads(_b64decode(token))
            ok = isinstance(data, dict) and data.get("f") == form_id and data.get("g") == self.page_token_generation
        except (ValueError, binascii.Error):
            ok = False
        if not ok:
            return self.error(400, "INVALID_ARGUMENT", "Invalid page token.")
        if data.get("q") != filter_text:
            return self.error(
                400,
                "INVALID_ARGUMENT",
                "The filter must be the same as in the request that returned the page token.",
            )
        return str(data["a"])

    def on_expire_sync(self) -> None:
        self.page_token_generation += 1

    # -- OAuth token endpoint -------------------------------------------------------------------

    def token_response(self, request: Request) -> Response:
        form = request.form
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            grant = self._refresh_grant(form)
        elif grant_type == JWT_BEARER:
            grant = self._jwt_grant(form.get("assertion", ""), request.path)
        else:
            return self.json(
                {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"}, 400
            )
        if isinstance(grant, Response):
            return grant
        principal, scopes = grant
        with self.lock:
            token, lifetime = self.tokens.issue()
            self.grants[token] = (principal, scopes)
        body = {"access_token": token, "expires_in": lifetime - 1, "token_type": "Bearer"}
        if grant_type == "refresh_token":
            body["scope"] = " ".join(sorted(scopes))
        return self.json(body)

    def _refresh_grant(self, form) -> tuple[str, frozenset[str]] | Response:
        if form.get("client_id") != OAUTH_CLIENT_ID:
            return self.json({"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401)
        if form.get("client_secret") != OAUTH_CLIENT_SECRET:
            return self.json({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        with self.lock:
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None:
            return self.json({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400)
        principal, granted = grant
        if requested := form.get("scope"):
            scopes = frozenset(requested.split())
            if not scopes <= granted:
                return self.json({"error": "invalid_scope", "error_description": "Bad Request"}, 400)
            return principal, scopes
        return principal, granted

    def _jwt_grant(self, assertion: str, token_path: str) -> tuple[str, frozenset[str]] | Response:
        def invalid(description: str) -> Response:
            return self.json({"error": "invalid_grant", "error_description": description}, 400)

        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64decode(header_b64))
            claims = json.loads(_b64decode(payload_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, binascii.Error):
            return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        account = self.service_accounts.get(claims.get("iss", ""))
        if header.get("alg") != "RS256" or account is None or header.get("kid", account.key_id) != account.key_id:
            return self.json({"error": "invalid_client", "error_description": "Invalid client or client secret."}, 401)
        try:
            account.private_key.public_key().verify(
                signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return invalid("Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now < exp) or exp - iat > 3600:
            return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        if not str(claims.get("aud", "")).endswith(token_path):
            return invalid("Invalid JWT: Failed audience check.")
        if not claims.get("scope"):
            return invalid("Invalid JWT: No scope claim.")
        if claims.get("sub", account.email) != account.email and not account.domain_wide_delegation:
            return self.json(
                {
                    "error": "unauthorized_client",
                    "error_description": "Client is unauthorized to retrieve access tokens using this method, "
                    "or client not authorized for any of the scopes requested.",
                },
                401,
            )
        return account.email, frozenset(claims["scope"].split())

    # -- sandbox controls (methods and /_sandbox/forms routes) ----------------------------------

    def form_id(self, connection: str) -> str:
        return self.by_connection[connection]

    def form(self, form_id: str) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.forms[form_id].form))

    def responses(self, form_id: str) -> list[dict]:
        """Every response of the form as ``responses.list`` renders it, in listing order."""
        with self.lock:
            stored = self.forms[form_id]
            return [stored.responses[k].resource() for k in sorted(stored.responses)]

    def submit_response(self, form_id: str) -> dict:
        """A respondent submits the form now; returns the new response."""
        with self.lock:
            stored = self.forms[form_id]
            now = max(time.time_ns(), *(r.last_ns + 1000 for r in stored.responses.values()))
            return _add(stored, self._rng, now, now).resource()

    def edit_response(self, form_id: str, response_id: str) -> dict:
        """The respondent edits their response: new answers and a newer ``lastSubmittedTime``."""
        with self.lock:
            stored = self.forms[form_id]
            response = stored.responses[response_id]
            fresh = stored.answer_maker.answers(self._rng, _person(self._rng))
            response.answers = {**response.answers, **dict(list(fresh.items())[:3])}
            response.last_ns = max(time.time_ns(), response.last_ns + 1000)
            return response.resource()

    def delete_response(self, form_id: str, response_id: str) -> None:
        """The form owner deletes a response (the API has no tombstones: it simply disappears)."""
        with self.lock:
            del self.forms[form_id].responses[response_id]

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.lock:
            self.refresh_tokens.pop(refresh_token, None)

    def credentials(self, connection: str) -> dict:
        """The tap settings that authenticate ``connection`` against this sandbox."""
        kind = CONNECTION_AUTH[connection]
        if kind == "service_account":
            key = self.service_accounts[SERVICE_ACCOUNT].key_file()
            return {"service_account": {"key_json": json.dumps(key)}}
        return {
            "oauth_credentials": {
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": OAUTH_CLIENT_SECRET,
                "refresh_token": kind,
            }
        }

    def tap_config(self, connection: str, base_url: str) -> dict:
        """A complete tap-google-forms config for ``connection`` served at ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "connection_name": connection,
            "form_id": self.form_id(connection),
            "api_url": base,
            "token_uri": f"{base}/token",
            **self.credentials(connection),
        }

    def _faults_route(self, request: Request) -> Response:
        body = request.get_json(force=True) or {}
        unknown = set(body) - {"expire_tokens_after", "expire_page_tokens_after"}
        if unknown:
            return self.json({"error": f"unknown switch {sorted(unknown)}"}, 400)
        self.schedule(**body)
        return self.json({"ok": True})

    def _config_route(self, request: Request, connection: str) -> Response:
        if connection not in self.by_connection:
            return self.json({"error": f"unknown connection {connection!r}"}, 404)
        return self.json(self.tap_config(connection, request.host_url))

    def _submit_route(self, request: Request, form_id: str) -> Response:
        if form_id not in self.forms:
            return self.json({"error": "unknown form"}, 404)
        return self.json(self.submit_response(form_id))

    def _known(self, form_id: str, response_id: str) -> bool:
        with self.lock:
            return form_id in self.forms and response_id in self.forms[form_id].responses

    def _edit_route(self, request: Request, form_id: str, response_id: str) -> Response:
        if not self._known(form_id, response_id):
            return self.json({"error": "unknown response"}, 404)
        return self.json(self.edit_response(form_id, response_id))

    def _delete_route(self, request: Request, form_id: str, response_id: str) -> Response:
        if not self._known(form_id, response_id):
            return self.json({"error": "unknown response"}, 404)
        self.delete_response(form_id, response_id)
        return self.json({})


def create_app() -> FormsApp:
    """The Forms sandbox seeded with the four forms of the product spec (deterministic data)."""
    return FormsApp()
