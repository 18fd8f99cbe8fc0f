"""`lorchestra-schedules`: pause, resume and show the schedules of a running Dagster webserver (GraphQL API).

A migration pauses every schedule, waits until no run is queued or in progress, migrates, then resumes:
    lorchestra-schedules pause --wait
    lorchestra-schedules resume
Paused schedules stay paused across restarts (Dagster keeps their state in its instance storage).
"""

from __future__ import annotations

import argparse
import sys
import time

import requests

ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]

SCHEDULES = """
query {
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { name location { name }
              schedules { name cronSchedule executionTimezone scheduleState { id status } } }
    }
    ... on PythonError { message }
  }
}"""
ACTIVE_RUNS = """
query ($statuses: [RunStatus!]) {
  runsOrError(filter: {statuses: $statuses}) {
    ... on Runs { results { runId jobName status } }
    ... on PythonError { message }
  }
}"""
#: What both schedule mutations answer: the schedule's new state, or Dagster's error.
STATE_OR_ERROR = "{ ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } }"
STOP = f"mutation ($id: String!) {{ stopRunningSchedule(id: $id) {STATE_OR_ERROR} }}"
START = f"mutation ($selector: ScheduleSelector!) {{ startSchedule(scheduleSelector: $selector) {STATE_OR_ERROR} }}"


class GraphQLError(RuntimeError):
    pass


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise GraphQLError(body["errors"][0]["message"])
    return body["data"]


def selector(repo: dict, schedule: dict) -> dict:
    return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
            "scheduleName": schedule["name"]}  # fmt: skip


def schedules(url: str) -> list[dict]:
    """Every schedule with its repository selector and state."""
    repos = graphql(url, SCHEDULES)["repositoriesOrError"]
    if "message" in repos:
        raise GraphQLError(repos["message"])
    return [{**s, "selector": selector(r, s)} for r in repos["nodes"] for s in r["schedules"]]


def active_runs(url: str) -> list[dict]:
    runs = graphql(url, ACTIVE_RUNS, {"statuses": ACTIVE})["runsOrError"]
    if "message" in runs:
        raise GraphQLError(runs["message"])
    return runs["results"]


def pause(url: str) -> int:
    stopped = 0
    for s in schedules(url):
        if s["scheduleState"]["status"] == "RUNNING":
            result = graphql(url, STOP, {"id": s["scheduleState"]["id"]})["stopRunningSchedule"]
            if "message" in result:
                raise GraphQLError(f"{s['name']}: {result['message']}")
            stopped += 1
    return stopped


def resume(url: str) -> int:
    started = 0
    for s in schedules(url):
        if s["scheduleState"]["status"] != "RUNNING":
            result = graphql(url, START, {"selector": s["selector"]})["startSchedule"]
            if "message" in result:
                raise GraphQLError(f"{s['name']}: {result['message']}")
            started += 1
    return started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lorchestra-schedules", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["status", "pause", "resume"])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the Dagster webserver")
    parser.add_argument("--wait", action="store_true", help="pause: then wait until no run is queued or running")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    try:
        if args.action == "pause":
            print(f"paused {pause(url)} schedules")
            while args.wait and (runs := active_runs(url)):
                print(f"waiting for {len(runs)} runs: " + ", ".join(f"{r['jobName']} {r['status']}" for r in runs))
                time.sleep(10)
        elif args.action == "resume":
            print(f"resumed {resume(url)} schedules")
        for s in schedules(url):
            timezone = s["executionTimezone"] or "UTC"
            print(f"{s['name']:45} {s['cronSchedule']:15} {timezone:6} {s['scheduleState']['status']}")
        runs = active_runs(url)
        print(f"{len(runs)} runs queued or in progress" + "".join(f"\n  {r['jobName']} {r['status']}" for r in runs))
    except (requests.RequestException, GraphQLError) as exc:
        print(f"lorchestra-schedules: {url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
