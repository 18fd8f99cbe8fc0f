"""What ``lorchestra status`` expects: each scheduled connection, its object types and how often it runs.

Read from the Meltano project file (``meltano.yml``): a schedule names a job (or an extractor and a loader);
the job's tasks name extractors; an extractor's ``connection_name`` setting (its own, or inherited through
``inherit_from``) says which connection it feeds, and its ``select`` patterns (``email.*``) say which streams,
i.e. object types. Only the project file itself is read (not ``include_paths`` files nor environment
overrides): the connection names and schedules of this project live there.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass
from pathlib import Path

import yaml
from cronsim import CronSim, CronSimError
from target_lorchestra.errors import ConfigError

#: Meltano's own reading of the interval aliases (meltano.core.schedule.CRON_INTERVALS): None = never on a clock.
CRON_ALIASES: dict[str, str | None] = {
    "@once": None,
    "@manual": None,
    "@none": None,
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}
#: The window over which the longest gap between two scheduled runs is measured (covers weekday-only crons).
GAP_WINDOW = dt.timedelta(days=7)


@dataclass(frozen=True)
class Expectation:
    """One scheduled connection and object type (``object_type`` None when the extractor selects no named stream)."""

    connection_name: str
    object_type: str | None
    job: str
    schedule: str
    interval: str  # as written in meltano.yml (a cron expression or an alias)
    every: dt.timedelta | None  # the longest gap between two scheduled runs; None: not on a clock


def expected_interval(interval: str, now: dt.datetime) -> dt.timedelta | None:
    """The longest gap between consecutive fire times of ``interval`` in the week before ``now`` (UTC).

    For ``@hourly`` that is one hour; for a weekdays-only cron it is the weekend gap, so a Monday
    morning does not look late. None for Meltano's unclocked aliases (``@once``, ``@manual``, ``@none``).
    """
    cron = CRON_ALIASES.get(interval.strip(), interval.strip())
    if cron is None:
        return None
    start = now.astimezone(dt.UTC).replace(tzinfo=None) - GAP_WINDOW
    try:
        fires = CronSim(cron, start)
    except CronSimError as exc:
        raise ConfigError(f"schedule interval {interval!r} is not a cron expression: {exc}") from exc
    previous, longest = next(fires), dt.timedelta(0)
    end = start + GAP_WINDOW
    while previous <= end:
        current = next(fires)
        longest = max(longest, current - previous)
        previous = current
    return longest


def load_expectations(project_file: Path, now: dt.datetime) -> list[Expectation]:
    """Every scheduled (connection, object type) of the Meltano project, sorted; [] when there is no file."""
    if not project_file.exists():
        return []
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{project_file} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    extractors = {p["name"]: p for p in (project.get("plugins") or {}).get("extractors") or [] if "name" in p}
    jobs = {j["name"]: j for j in project.get("jobs") or [] if "name" in j}
    found: dict[tuple[str, str | None], Expectation] = {}
    for schedule in project.get("schedules") or []:
        interval = str(schedule.get("interval") or "@none")
        job_name = schedule.get("job") or schedule.get("name", "")
        for extractor in _schedule_extractors(schedule, jobs, extractors):
            connection = _inherited(extractors, extractor, lambda p: (p.get("config") or {}).get("connection_name"))
            if not connection:
                continue  # a third-party tap without a connection_name: the target's config names it
            selected = _inherited(extractors, extractor, lambda p: p.get("select")) or []
            object_types: list[str | None] = [*_selected_streams(selected)] or [None]
            for object_type in object_types:
                found.setdefault(
                    (connection, object_type),
                    Expectation(
                        connection_name=connection,
                        object_type=object_type,
                        job=job_name,
                        schedule=schedule.get("name", job_name),
                        interval=interval,
                        every=expected_interval(interval, now),
                    ),
                )
    return [found[k] for k in sorted(found, key=lambda k: (k[0], k[1] or ""))]


def _schedule_extractors(schedule: dict, jobs: dict[str, dict], extractors: dict[str, dict]) -> list[str]:
    if schedule.get("extractor"):  # an ELT schedule names its extractor directly
        return [schedule["extractor"]]
    tasks = (jobs.get(schedule.get("job", "")) or {}).get("tasks") or []
    names: list[str] = []
    for task in tasks if isinstance(tasks, list) else [tasks]:
        for part in task if isinstance(task, list) else [task]:
            names.extend(word for word in str(part).split() if word in extractors)
    return names


def _inherited(extractors: dict[str, dict], name: str, get: t.Callable[[dict], t.Any]) -> t.Any:
    """A plugin's own value, else its parent's (``inherit_from``), as Meltano resolves it."""
    seen = set()
    while name in extractors and name not in seen:
        seen.add(name)
        value = get(extractors[name])
        if value:
            return value
        name = extractors[name].get("inherit_from", "")
    return None


def _selected_streams(patterns: list[str]) -> list[str]:
    """Stream names from ``select`` patterns (``email.*`` -> email); wildcard stream names are skipped."""
    streams = []
    for pattern in patterns:
        stream = str(pattern).split(".", 1)[0]
        if not stream or stream.startswith("!") or any(c in stream for c in "*?["):
            continue
        if stream not in streams:
            streams.append(stream)
    return streams
