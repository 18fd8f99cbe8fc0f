"""The four forms of the product spec, their people and their responses (deterministic fake data)."""

from __future__ import annotations

import random

from lorchestra_sandbox.forms.model import AnswerMaker, StoredForm, StoredResponse, ns_at
from lorchestra_sandbox.forms.people import PHQ_COLUMNS, person, response_id
from lorchestra_sandbox.forms.questionnaires import followup, intake_adult, intake_child, ipip120

SCOPE = "https://www.googleapis.com/auth/"
READONLY_SCOPES = (SCOPE + "forms.body.readonly", SCOPE + "forms.responses.readonly")

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

CATALOG = {
    "google-forms-ipip120": (120, ipip120, 60, {ADMIN, SERVICE_ACCOUNT}),
    "google-forms-intake-01": (101, intake_adult, 150, {ADMIN, INTAKE}),
    "google-forms-intake-02": (102, intake_child, 90, {ADMIN, INTAKE}),
    "google-forms-followup": (203, followup, 240, {ADMIN, SERVICE_ACCOUNT}),
}
#: Which credential each connection uses in the sandbox (the tap supports both kinds for any connection).
CONNECTION_AUTH = {
    "google-forms-ipip120": "service_account",
    "google-forms-intake-01": INTAKE_REFRESH_TOKEN,
    "google-forms-intake-02": INTAKE_REFRESH_TOKEN,
    "google-forms-followup": ADMIN_REFRESH_TOKEN,
}
SEED_START = ns_at(2025, 2, 3)
SEED_END = ns_at(2026, 9, 30)


def seed_form(connection: str) -> StoredForm:
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
        add_response(stored, rng, create, last)
    return stored


def add_response(stored: StoredForm, rng: random.Random, create_ns: int, last_ns: int) -> StoredResponse:
    who = person(rng)
    response = StoredResponse(
        response_id=response_id(rng),
        create_ns=create_ns,
        last_ns=last_ns,
        answers=stored.answer_maker.answers(rng, who),
        respondent_email=who["email"] if stored.collect_email else None,
    )
    if stored.form["settings"]["quizSettings"].get("isQuiz"):
        # Graded: points for the answers given on a scored grid (PHQ/GAD columns score 0-3).
        values = [a["value"] for answer in response.answers.values() for a in answer["textAnswers"]["answers"]]
        response.total_score = float(sum(PHQ_COLUMNS.index(v) for v in values if v in PHQ_COLUMNS))
    stored.responses[response.response_id] = response
    return response
