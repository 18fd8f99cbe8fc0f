"""The code location: `dagster dev -m lorchestra_dagster.definitions` (scripts/dagster does it).

Loading it asks Meltano for the project's job schedules and the loader's config in the chosen environment
(settings.py), and builds one job and one schedule per scheduled Meltano job.
"""

from __future__ import annotations

from dagster import Definitions

from lorchestra_dagster.jobs import build_job, build_schedule
from lorchestra_dagster.meltano import MeltanoProject
from lorchestra_dagster.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    project = MeltanoProject(settings)
    scheduled, loader_config = project.describe()
    jobs, schedules = [], []
    for spec in scheduled:
        job_def = build_job(spec, project, loader_config)
        jobs.append(job_def)
        schedules.append(build_schedule(spec, job_def, timezone=settings.timezone, running=settings.schedules_running))
    return Definitions(jobs=jobs, schedules=schedules)


defs = build_definitions(Settings.from_env())
