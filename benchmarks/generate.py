"""Deterministic, realistic Singer input for the benchmarks: the four providers' record shapes.

The output is what the four taps would send one after another: for each provider a SCHEMA message
carrying the ``x-lorchestra`` provenance keyword, then its RECORDs (the provider's API resource
unchanged, as the taps emit them) with a STATE message after every page.

- ``gmail`` / ``email``: Gmail ``messages.get(format=full)`` with headers and base64url MIME bodies of
  a few KB.
- ``exchange`` / ``email``: Microsoft Graph messages with an HTML body, recipients and flags.
- ``dataverse`` / ``contact``: Dataverse rows of about 1 KB, OData annotations included.
- ``google_forms`` / ``form_response``: Forms responses with tens of answers.

The second pass (``--pass 2``) sends the same objects again, each changed and extracted a day later:
every record is an update. The same seed and size always give the same bytes.

Usage: ``python benchmarks/generate.py --size-mb 200 --seed 7 [--pass 2] > stream.singer``
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import random
import sys
import typing as t
import uuid

import orjson

#: Share of the input bytes taken by each provider.
MIX = (("gmail", 0.40), ("exchange", 0.25), ("dataverse", 0.20), ("google_forms", 0.15))
PAGE = 100  # records between STATE messages

_WORDS = [
    "appointment",
    "session",
    "therapy",
    "follow",
    "up",
    "schedule",
    "confirm",
    "cancel",
    "reschedule",
    "invoice",
    "payment",
    "insurance",
    "claim",
    "intake",
    "form",
    "consent",
    "review",
    "note",
    "plan",
    "goal",
    "progress",
    "week",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "clinic",
    "office",
    "room",
    "telehealth",
    "link",
    "call",
    "message",
    "reply",
    "thanks",
    "please",
    "regards",
    "best",
    "patient",
    "client",
    "provider",
    "referral",
    "assessment",
    "report",
    "summary",
    "update",
    "new",
    "time",
    "available",
    "request",
    "approved",
]

_EXTRACTED = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_WORDS, k=words))


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _stable_hex(i: int, n: int) -> str:
    """Hex digits that depend only on ``i``: part of an object id, the same in both passes."""
    return f"{(i + 1) * 0x9E3779B97F4A7C15:0{n}x}"[-n:]


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# -- record shapes --------------------------------------------------------------------------------


def gmail_message(rng: random.Random, i: int, version: int) -> dict:
    sent = _EXTRACTED - dt.timedelta(minutes=i)
    plain = _text(rng, rng.randint(150, 450))
    html = f'<div dir="ltr"><p>{_text(rng, rng.randint(100, 300))}</p></div>'
    labels = ["INBOX", "CATEGORY_PERSONAL"] + (["UNREAD"] if version == 1 else ["IMPORTANT"])
    return {
        "id": f"18c{i:013x}",
        "threadId": f"18c{i // 3:013x}",
        "labelIds": labels,
        "snippet": plain[:140],
        "historyId": str(1_000_000 + i * 2 + version),
        "internalDate": str(int(sent.timestamp() * 1000)),
        "sizeEstimate": len(plain) + len(html) + 2400,
        "payload": {
            "partId": "",
            "mimeType": "multipart/alternative",
            "filename": "",
            "headers": [
                {"name": "Delivered-To", "value": "ben@mensio.example"},
                {
                    "name": "Received",
                    "value": f"by 2002:a05:{_hex(rng, 4)}:{_hex(rng, 4)} with SMTP id {_hex(rng, 12)}",
                },
                {"name": "Date", "value": sent.strftime("%a, %d %b %Y %H:%M:%S +0000")},
                {"name": "From", "value": f"Client {i % 997} <client{i % 997}@example.com>"},
                {"name": "To", "value": "Ben <ben@mensio.example>"},
                {"name": "Subject", "value": _text(rng, rng.randint(3, 9)).capitalize()},
                {"name": "Message-ID", "value": f"<{_hex(rng, 24)}@mail.example.com>"},
                {"name": "MIME-Version", "value": "1.0"},
                {"name": "Content-Type", "value": f'multipart/alternative; boundary="{_hex(rng, 28)}"'},
            ],
            "body": {"size": 0},
            "parts": [
                {
                    "partId": "0",
                    "mimeType": "text/plain",
                    "filename": "",
                    "headers": [{"name": "Content-Type", "value": 'text/plain; charset="UTF-8"'}],
                    "body": {"size": len(plain), "data": _b64url(plain)},
                },
                {
                    "partId": "1",
                    "mimeType": "text/html",
                    "filename": "",
                    "headers": [{"name": "Content-Type", "value": 'text/html; charset="UTF-8"'}],
                    "body": {"size": len(html), "data": _b64url(html)},
                },
            ],
        },
    }


def graph_message(rng: random.Random, i: int, version: int) -> dict:
    created = _EXTRACTED - dt.timedelta(minutes=i)
    person = {"emailAddress": {"name": f"Client {i % 991}", "address": f"client{i % 991}@example.org"}}
    return {
        "@odata.etag": f'W/"CQAAABYAAAA{_hex(rng, 24)}"',
        "id": f"AAMkAGI2TG93AAA={i:010d}{_stable_hex(i, 40)}",
        "createdDateTime": _iso(created),
        "lastModifiedDateTime": _iso(created + dt.timedelta(hours=version)),
        "changeKey": f"CQAAABYAAAA{_hex(rng, 20)}",
        "categories": [],
        "receivedDateTime": _iso(created),
        "sentDateTime": _iso(created),
        "hasAttachments": rng.random() < 0.1,
        "internetMessageId": f"<{_hex(rng, 30)}@example.org>",
        "subject": _text(rng, rng.randint(3, 9)).capitalize(),
        "bodyPreview": _text(rng, 30)[:255],
        "importance": "normal",
        "parentFolderId": "AAMkAGI2TG93AAA=inbox",
        "conversationId": f"AAQkAGI2{i // 4:012d}",
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": version > 1,
        "isDraft": False,
        "webLink": f"https://outlook.office365.com/owa/?ItemID=AAMkAGI2{i:010d}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": {
            "contentType": "html",
            "content": f"<html><head></head><body><p>{_text(rng, rng.randint(150, 450))}</p></body></html>",
        },
        "sender": person,
        "from": person,
        "toRecipients": [{"emailAddress": {"name": "Ben", "address": "ben@mensio.example"}}],
        "ccRecipients": [],
        "bccRecipients": [],
        "replyTo": [],
        "flag": {"flagStatus": "notFlagged" if version == 1 else "flagged"},
    }


def dataverse_row(rng: random.Random, i: int, version: int) -> dict:
    modified = _EXTRACTED - dt.timedelta(minutes=i) + dt.timedelta(days=version - 1)
    return {
        "@odata.etag": f'W/"{4_000_000 + i * 2 + version}"',
        "contactid": _guid(random.Random(i)),  # noqa: S311 - test data
        "firstname": rng.choice(["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"]),
        "lastname": rng.choice(["Ortiz", "Nguyen", "Smith", "Kowalski", "Okafor", "Schmidt", "Rossi"]),
        "emailaddress1": f"contact{i}@example.net",
        "telephone1": f"+1 555 {rng.randint(1000, 9999)}",
        "birthdate": f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "address1_line1": f"{rng.randint(1, 999)} {_text(rng, 2).title()} St",
        "address1_city": rng.choice(["Portland", "Austin", "Denver", "Boston"]),
        "address1_postalcode": f"{rng.randint(10000, 99999)}",
        "description": _text(rng, rng.randint(20, 50)),
        "statecode": 0,
        "statuscode": 1,
        "statuscode@OData.Community.Display.V1.FormattedValue": "Active",
        "createdon": _iso(_EXTRACTED - dt.timedelta(days=30, minutes=i)),
        "modifiedon": _iso(modified),
        "modifiedon@OData.Community.Display.V1.FormattedValue": modified.strftime("%m/%d/%Y %I:%M %p"),
        "_ownerid_value": _guid(rng),
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser",
        "_parentcustomerid_value": None,
        "versionnumber": 90_000_000 + i * 2 + version,
        "new_intakestatus": rng.choice([100000000, 100000001, 100000002]),
        "new_preferredcontact": rng.choice(["email", "phone", "text"]),
    }


def forms_response(rng: random.Random, i: int, version: int) -> dict:
    submitted = _EXTRACTED - dt.timedelta(minutes=i) + dt.timedelta(days=version - 1)
    answers = {}
    for q in range(rng.randint(20, 40)):
        question_id = f"{0x1A2B3C00 + q:08x}"
        if q % 3 == 0:
            value = {"textAnswers": {"answers": [{"value": rng.choice(["Yes", "No", "Sometimes"])}]}}
        elif q % 3 == 1:
            value = {"textAnswers": {"answers": [{"value": str(rng.randint(0, 10))}]}}
        else:
            value = {"textAnswers": {"answers": [{"value": _text(rng, rng.randint(3, 15))}]}}
        answers[question_id] = {"questionId": question_id, **value}
    return {
        "formId": "1FAIpQLSd-intake-form-0001",
        "responseId": f"ACYDBNj{i:012d}{_stable_hex(i, 16)}",
        "createTime": _iso(submitted - dt.timedelta(minutes=5)),
        "lastSubmittedTime": _iso(submitted),
        "respondentEmail": f"respondent{i}@example.com",
        "totalScore": rng.randint(0, 40),
        "answers": answers,
    }


PROVIDERS: dict[str, dict[str, t.Any]] = {
    "gmail": {
        "stream": "email",
        "connection": "gmail-acct1",
        "key": "id",
        "make": gmail_message,
        "bookmark": "historyId",
    },
    "exchange": {
        "stream": "email",
        "connection": "exchange-ben-mensio",
        "key": "id",
        "make": graph_message,
        "bookmark": "lastModifiedDateTime",
    },
    "dataverse": {
        "stream": "contact",
        "connection": "dataverse-clinic",
        "key": "contactid",
        "make": dataverse_row,
        "bookmark": "modifiedon",
    },
    "google_forms": {
        "stream": "form_response",
        "connection": "forms-intake",
        "key": "responseId",
        "make": forms_response,
        "bookmark": "lastSubmittedTime",
    },
}


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


def schema_message(provider: str, seed: int) -> dict:
    """The SCHEMA a tap sends: every top-level property typed (a peer target needs them), plus provenance."""
    spec = PROVIDERS[provider]
    sample = spec["make"](random.Random(seed), 0, 1)  # noqa: S311 - test data
    properties = {name: {"type": [_JSON_TYPES.get(type(value), "string"), "null"]} for name, value in sample.items()}
    properties[spec["key"]] = {"type": "string"}
    return {
        "type": "SCHEMA",
        "stream": spec["stream"],
        "key_properties": [spec["key"]],
        "schema": {
            "type": "object",
            "properties": properties,
            "x-lorchestra": {"source_system": provider, "connection_name": spec["connection"], "schema_ref": None},
        },
    }


def generate(size_mb: float, seed: int, version: int = 1, counts: dict[str, int] | None = None) -> t.Iterator[bytes]:
    """Singer lines (bytes, newline-terminated) totalling about ``size_mb`` megabytes.

    ``counts`` (records per provider) overrides the size: pass 2 must send exactly pass 1's objects.
    """
    extracted = _EXTRACTED + dt.timedelta(days=version - 1)
    for provider, share in MIX:
        spec = PROVIDERS[provider]
        budget = size_mb * 1_000_000 * share
        yield orjson.dumps(schema_message(provider, seed)) + b"\n"
        written = 0
        i = 0
        while (i < counts[provider]) if counts else (written < budget):
            # The content of object i depends only on (seed, provider, i, version): pass 2 updates pass 1's objects.
            rng = random.Random(f"{seed}:{provider}:{i}:{version}")  # noqa: S311 - test data, not secrets
            record = spec["make"](rng, i, version)
            line = orjson.dumps(
                {
                    "type": "RECORD",
                    "stream": spec["stream"],
                    "record": record,
                    "time_extracted": _iso(extracted + dt.timedelta(milliseconds=i)),
                }
            )
            yield line + b"\n"
            written += len(line) + 1
            i += 1
            if i % PAGE == 0:
                state = {"bookmarks": {spec["stream"]: {spec["bookmark"]: str(record[spec["bookmark"]])}}}
                yield orjson.dumps({"type": "STATE", "value": state}) + b"\n"
        yield orjson.dumps({"type": "STATE", "value": {"bookmarks": {spec["stream"]: {"done": provider}}}}) + b"\n"


def record_counts(size_mb: float, seed: int) -> dict[str, int]:
    """Records per provider in pass 1 of ``size_mb`` (what pass 2 must repeat)."""
    counts: dict[str, int] = {}
    provider = None
    for line in generate(size_mb, seed, 1):
        if line.startswith(b'{"type":"SCHEMA"'):
            provider = orjson.loads(line)["schema"]["x-lorchestra"]["source_system"]
            counts[provider] = 0
        elif line.startswith(b'{"type":"RECORD"'):
            counts[provider] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pass", dest="version", type=int, default=1, choices=[1, 2])
    args = parser.parse_args()
    out = sys.stdout.buffer
    counts = record_counts(args.size_mb, args.seed) if args.version == 2 else None
    for line in generate(args.size_mb, args.seed, args.version, counts):
        out.write(line)


if __name__ == "__main__":
    main()
