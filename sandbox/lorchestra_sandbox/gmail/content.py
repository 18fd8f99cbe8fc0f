"""Names, message templates and labels the Gmail sandbox's fake mailboxes are made of."""

from __future__ import annotations

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

TEMPLATES: dict[str, list[tuple[str, str, list[str], str | None]]] = {
    # (subject, body, labels, attachment filename)
    "gmail-acct1": [
        (
            "Appointment request - {first} {last}",
            "Hi,\n\nI'd like to book an initial consultation with {clinician}. {day} afternoons work best for me.\n"
            "My phone is (555) {phone}.\n\nThanks,\n{first}",
            ["INBOX", "UNREAD", "CATEGORY_PERSONAL", "Label_1"],
            None,
        ),
        (
            "Re: Rescheduling my {day} session",
            "Hello,\n\nCould we move my session with {clinician} to next week? Something came up at work.\n\n"
            "Best,\n{first} {last}",
            ["INBOX", "CATEGORY_PERSONAL", "Label_1"],
            None,
        ),
        (
            "Completed intake forms - {first} {last}",
            "Please find my completed intake questionnaire attached.\n\nKind regards,\n{first} {last}",
            ["INBOX", "IMPORTANT", "CATEGORY_PERSONAL", "Label_2"],
            "intake-{last_lower}.pdf",
        ),
        (
            "Reminder: your appointment on {day}",
            "Dear {first},\n\nThis is a reminder of your appointment with {clinician} on {day} at 3:30 PM.\n"
            "Reply to this email if you need to reschedule.\n\nMensio Clinic front desk",
            ["SENT"],
            None,
        ),
        (
            "Mensio Clinic newsletter - wellbeing tips",
            "This month: sleep hygiene, mindful breathing, and our new evening group sessions.",
            ["INBOX", "CATEGORY_PROMOTIONS"],
            None,
        ),
        (
            "Question about my prescription refill",
            "Hi, my pharmacy says the refill for my medication needs approval from {clinician}. "
            "Could someone check?\n\n{first}",
            ["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"],
            None,
        ),
    ],
    "gmail-acct2": [
        (
            "Invoice INV-{num} for services rendered",
            "Dear {first} {last},\n\nAttached is invoice INV-{num} for sessions with {clinician}. "
            "Amount due: ${amount}.00.\n\nMensio Clinic billing",
            ["SENT", "Label_3"],
            "INV-{num}.pdf",
        ),
        (
            "Payment received - thank you",
            "We received your payment of ${amount}.00 on account {num}. Thank you!",
            ["INBOX", "CATEGORY_UPDATES", "Label_3"],
            None,
        ),
        (
            "Explanation of Benefits - claim {num}",
            "Your claim {num} for {first} {last} has been processed. Allowed amount ${amount}.00.",
            ["INBOX", "IMPORTANT", "CATEGORY_UPDATES", "Label_4"],
            "EOB-{num}.pdf",
        ),
        (
            "Superbill request for {first} {last}",
            "Hello,\n\nCould you send me a superbill for my sessions last month so I can file with my insurer?\n\n"
            "Thanks,\n{first}",
            ["INBOX", "UNREAD", "CATEGORY_PERSONAL", "Label_3"],
            None,
        ),
    ],
    "gmail-acct3": [
        (
            "Referral: {first} {last}",
            "Dear colleagues,\n\nI am referring {first} {last} for assessment. Relevant history attached.\n\n"
            "Regards,\nDr. K. Walsh, Northside Family Practice",
            ["INBOX", "IMPORTANT", "Label_5"],
            "referral-{num}.pdf",
        ),
        (
            "Fax received from (555) {phone}",
            "You have received a 3 page fax. The document is attached.",
            ["INBOX", "Label_5"],
            "fax-{num}.pdf",
        ),
        (
            "Intake screening notes - {first} {last}",
            "Screening call completed by {clinician}. Suitable for individual therapy; waitlist priority 2.",
            ["INBOX", "Label_6"],
            None,
        ),
        (
            "Re: Availability for new clients",
            "Hi team,\n\n{clinician} can take two new clients on {day} mornings from next month.\n",
            ["INBOX"],
            None,
        ),
    ],
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
