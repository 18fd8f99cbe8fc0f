"""Names, message templates and labels the Gmail sandbox's fake mailboxes are made of."""

from __future__ import annotations

import json
from importlib import resources

FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Daniel",
    "Sofia",
    "Liam",
    "Grace",
    "Noah",
    "Priya",
    "Ethan",
    "Chloe",
    "Omar",
    "Hannah",
    "Lucas",
    "Mei",
    "Samuel",
    "Isabel",
    "Yusuf",
    "Clara",
    "Mateo",
]
LAST = [
    "Alvarez",
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "O'Brien",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Patel",
    "Moreau",
    "Tanaka",
    "Silva",
    "Fischer",
    "Murphy",
    "Kaur",
    "Novak",
    "Dubois",
    "Jensen",
    "Costa",
]
CLINICIANS = ["Dr. Elena Marsh", "Dr. Tomas Reyes", "Jordan Lee, LCSW", "Dr. Amara Obi"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

#: connection name -> the templates of its messages: (subject, body, labels, attachment file name or None), the
#: text with ``{first}``, ``{last}``, ``{last_lower}``, ``{clinician}``, ``{day}``, ``{phone}``, ``{num}``, ``{amount}``
#: to fill in.
TEMPLATES: dict[str, list[tuple[str, str, list[str], str | None]]] = {
    connection: [(m["subject"], m["body"], m["labels"], m["attachment"]) for m in messages]
    for connection, messages in json.loads(
        resources.files("lorchestra_sandbox").joinpath("data/gmail/templates.json").read_text()
    ).items()
}

USER_LABELS: dict[str, list[tuple[str, str]]] = {
    "gmail-acct1": [("Label_1", "Patients/Appointments"), ("Label_2", "Patients/Intake")],
    "gmail-acct2": [("Label_3", "Billing"), ("Label_4", "Insurance")],
    "gmail-acct3": [("Label_5", "Referrals"), ("Label_6", "Screening")],
}
SYSTEM_LABELS = [
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
]
