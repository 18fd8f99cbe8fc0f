"""The four questionnaires of the product spec as Form resources, each with its answer makers."""

from __future__ import annotations

import datetime as dt
import json
import random
from importlib import resources

from lorchestra_sandbox.forms.model import text_answer
from lorchestra_sandbox.forms.people import (
    CITIES,
    CONCERNS,
    FIRST,
    INSURERS,
    MEDS,
    PHQ_COLUMNS,
    REASONS,
    STREETS,
    THERAPISTS,
    drive_id,
    hexid,
)

# -- the four forms of the product spec -----------------------------------------------------------


class _FormBuilder:
    """Assembles a Form resource and the matching answer makers."""

    def __init__(self, rng: random.Random, title: str, description: str, *, email: str) -> None:
        self.rng = rng
        self.form_id = drive_id(rng)
        self.items: list[dict] = []
        self.questions: list[dict] = []
        self.form = {
            "formId": self.form_id,
            "info": {"title": title, "description": description, "documentTitle": title},
            "settings": {"quizSettings": {}, "emailCollectionType": email},
            "items": self.items,
            "revisionId": f"{rng.randint(10, 300):08d}",
            "responderUri": "https://docs.google.com/forms/d/e/1FAIpQLS" + drive_id(rng, 48)[1:] + "/viewform",
            "publishSettings": {"publishState": {"isPublished": True, "isAcceptingResponses": True}},
        }

    def _item(self, title: str, body: dict, description: str | None = None) -> dict:
        item = {"itemId": hexid(self.rng), "title": title}
        if description:
            item["description"] = description
        item.update(body)
        self.items.append(item)
        return item

    def question(self, title: str, kind: dict, make, *, required: bool = True, description: str | None = None):
        qid = hexid(self.rng)
        question = {"questionId": qid, "required": required, **kind} if required else {"questionId": qid, **kind}
        self._item(title, {"questionItem": {"question": question}}, description)
        self.questions.append({"questionId": qid, "required": required, "make": make})

    def grid(self, title: str, rows: list[str], columns: list[str], make_row, *, description: str | None = None):
        questions = []
        for index, row in enumerate(rows):
            qid = hexid(self.rng)
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


def ipip120(rng: random.Random) -> tuple[_FormBuilder, bool]:
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
        lambda r, p: text_answer(f"NC-{r.randint(10000, 99999)}"),
    )

    def rate(r: random.Random, p: dict, i: int, page: list) -> dict:
        facet, _, keyed = page[i]
        mean = 2 + keyed * p["traits"][facet[0]] * 0.9
        return text_answer(options[max(0, min(4, round(r.gauss(mean, 0.9))))])

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


def intake_adult(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "New Client Intake - Adult",
        "Please complete before your first appointment. Northside Counseling Clinic keeps this information "
        "confidential under HIPAA.",
        email="RESPONDER_INPUT",
    )
    b.question("Full legal name", {"textQuestion": {}}, lambda r, p: text_answer(f"{p['first']} {p['last']}"))
    b.question(
        "Preferred name",
        {"textQuestion": {}},
        lambda r, p: text_answer(p["first"][:3]) if r.random() < 0.3 else None,
        required=False,
    )
    b.question("Date of birth", {"dateQuestion": {"includeYear": True}}, lambda r, p: text_answer(p["birth"]))
    b.question(
        "Pronouns",
        _choice("RADIO", ["she/her", "he/him", "they/them"], other=True),
        lambda r, p: text_answer(r.choice(["she/her", "he/him", "they/them", "ze/zir"])),
        required=False,
    )
    b.question("Mobile phone", {"textQuestion": {}}, lambda r, p: text_answer(p["phone"]))
    b.question(
        "Home address",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: text_answer(
            f"{r.randint(10, 9999)} {r.choice(STREETS)}\n{r.choice(CITIES)}, IL 6{r.randint(1000, 2999)}"
        ),
    )
    b.question(
        "Emergency contact (name, relationship, phone)",
        {"textQuestion": {}},
        lambda r, p: text_answer(
            f"{r.choice(FIRST)} {p['last']}, {r.choice(['spouse', 'parent', 'sibling', 'friend'])}, "
            f"(555) {r.randint(200, 999)}-{r.randint(1000, 9999)}"
        ),
    )
    b.page_break("About your visit")
    b.question(
        "What brings you to counseling?",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: text_answer(r.choice(REASONS)),
    )
    b.question(
        "Have you received counseling before?",
        _choice("RADIO", ["Yes", "No"]),
        lambda r, p: text_answer(r.choice(["Yes", "No"])),
    )
    b.question(
        "Current medications (name and dose)",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: text_answer(m) if (m := r.choice(MEDS)) else None,
        required=False,
    )
    b.question("Insurance provider", _choice("DROP_DOWN", INSURERS), lambda r, p: text_answer(r.choice(INSURERS)))
    slots = ["Weekday mornings", "Weekday afternoons", "Weekday evenings", "Saturday mornings"]
    b.question(
        "Preferred appointment times",
        _choice("CHECKBOX", slots),
        lambda r, p: text_answer(*sorted(r.sample(slots, r.randint(1, 3)), key=slots.index)),
    )
    b.grid(
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        ["Little interest or pleasure in doing things", "Feeling down, depressed, or hopeless"],
        PHQ_COLUMNS,
        lambda r, p, i: text_answer(PHQ_COLUMNS[min(3, int(p["distress"] * 4 * r.uniform(0.6, 1.2)))]),
        description="PHQ-2",
    )
    b.page_break("Consent")
    b.text_item("Consent to treatment", "I consent to assessment and treatment at Northside Counseling Clinic.")
    b.question("Consent", _choice("CHECKBOX", ["I agree"]), lambda r, p: text_answer("I agree"))
    b.question(
        "Signature (type your full name)", {"textQuestion": {}}, lambda r, p: text_answer(f"{p['first']} {p['last']}")
    )
    return b, True


def intake_child(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "New Client Intake - Child & Adolescent (Parent/Guardian)",
        "To be completed by a parent or legal guardian for clients under 18.",
        email="RESPONDER_INPUT",
    )
    b.question("Child's full name", {"textQuestion": {}}, lambda r, p: text_answer(f"{r.choice(FIRST)} {p['last']}"))
    b.question(
        "Child's date of birth",
        {"dateQuestion": {"includeYear": True}},
        lambda r, p: text_answer(dt.date(r.randint(2009, 2021), r.randint(1, 12), r.randint(1, 28)).isoformat()),
    )
    b.question("Parent/guardian name", {"textQuestion": {}}, lambda r, p: text_answer(f"{p['first']} {p['last']}"))
    b.question(
        "Relationship to child",
        _choice("RADIO", ["Mother", "Father", "Legal guardian"], other=True),
        lambda r, p: text_answer(r.choice(["Mother", "Father", "Legal guardian", "Grandmother"])),
    )
    b.question(
        "School and grade",
        {"textQuestion": {}},
        lambda r, p: text_answer(
            f"{r.choice(CITIES)} {r.choice(['Elementary', 'Middle School', 'High School'])}, grade {r.randint(1, 12)}"
        ),
        required=False,
    )
    b.question(
        "Main concerns (check all that apply)",
        _choice("CHECKBOX", CONCERNS, other=True),
        lambda r, p: text_answer(*sorted(r.sample(CONCERNS, r.randint(1, 3)), key=CONCERNS.index)),
    )
    b.question(
        "Please describe your concerns",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: text_answer(r.choice(REASONS).replace("I've", "They've").replace("my ", "their ")),
    )
    b.question(
        "Best time to call you",
        {"timeQuestion": {}},
        lambda r, p: text_answer(f"{r.randint(8, 18):02d}:{r.choice(['00', '15', '30', '45'])}"),
        required=False,
    )
    b.question(
        "Custody or guardianship documents (if applicable)",
        {
            "fileUploadQuestion": {
                "folderId": drive_id(rng, 33),
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
                            "fileId": drive_id(r, 33),
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


def followup(rng: random.Random) -> tuple[_FormBuilder, bool]:
    b = _FormBuilder(
        rng,
        "Session Follow-up Check-in",
        "A two-minute check-in after your session. Your therapist reviews this before your next visit.",
        email="DO_NOT_COLLECT",
    )
    # A graded quiz: the GAD-2 rows score 0-3 each, so every response carries a totalScore.
    b.form["settings"]["quizSettings"] = {"isQuiz": True}
    b.question(
        "Session date",
        {"dateQuestion": {"includeYear": True}},
        lambda r, p: text_answer(dt.date(2026, r.randint(1, 9), r.randint(1, 28)).isoformat()),
    )
    b.question("Your therapist", _choice("DROP_DOWN", THERAPISTS), lambda r, p: text_answer(r.choice(THERAPISTS)))
    b.question(
        "How helpful was today's session?",
        {"scaleQuestion": {"low": 1, "high": 10, "lowLabel": "Not helpful", "highLabel": "Very helpful"}},
        lambda r, p: text_answer(str(max(1, min(10, round(r.gauss(7.5, 1.8)))))),
    )
    b.question(
        "Overall, how would you rate your experience?",
        {"ratingQuestion": {"ratingScaleLevel": 5, "iconType": "STAR"}},
        lambda r, p: text_answer(str(r.choice([3, 4, 4, 5, 5, 5]))),
    )
    b.grid(
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        ["Feeling nervous, anxious, or on edge", "Not being able to stop or control worrying"],
        PHQ_COLUMNS,
        lambda r, p, i: text_answer(PHQ_COLUMNS[min(3, int(p["distress"] * 4 * r.uniform(0.5, 1.1)))]),
        description="GAD-2",
    )
    b.question(
        "What was most helpful?",
        {"textQuestion": {"paragraph": True}},
        lambda r, p: text_answer(
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
        lambda r, p: text_answer("Yes" if p["distress"] > 0.85 else "No"),
    )
    return b, False


#: connection name -> (seed, builder, responses, readers)
