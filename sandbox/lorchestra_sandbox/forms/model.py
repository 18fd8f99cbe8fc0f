"""The Forms sandbox's data model: responses kept with nanosecond times, forms, answer makers."""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    import random

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


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


def ns_at(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


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


def text_answer(*values: str) -> dict:
    return {"textAnswers": {"answers": [{"value": v} for v in values]}}
