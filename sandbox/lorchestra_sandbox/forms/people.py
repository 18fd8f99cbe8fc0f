"""Fake respondents and Google-shaped ids for the Forms sandbox."""

from __future__ import annotations

import datetime as dt
import random
import string

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


def person(rng: random.Random) -> dict:
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


def hexid(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}"


def response_id(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "ACYDBN" + "".join(rng.choice(alphabet) for _ in range(64))


def drive_id(rng: random.Random, length: int = 44) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "1" + "".join(rng.choice(alphabet) for _ in range(length - 1))
