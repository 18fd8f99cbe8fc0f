"""``lorchestra status --html``: the report as one self-contained page (inline CSS and SVG, no script, no network).

Two charts share the rows of the table (one per connection and object type) and the last 30 days:
records read per day, with a red mark on each day that had a failed run; and every run's duration on a
time axis, failed runs as red crosses. The page reads on a laptop screen and prints on one A4 landscape page.
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape

from lorchestra_ops.status_report import (
    FAILING,
    FRESH,
    HISTORY,
    LATE,
    NEVER_RUN,
    Report,
    Row,
    Run,
    duration,
    table_rows,
)

DAYS = HISTORY.days
#: Above this many successful runs in the durations chart, only each row's longest run of a day is drawn
#: (failed runs are always drawn): 14 connections every 30 minutes for 30 days would be 20,000 dots.
MAX_DOTS = 3000
STATE_CLASS = {FRESH: "fresh", LATE: "late", FAILING: "failing", NEVER_RUN: "never"}

CSS = """
:root { --fresh:#1a7f37; --late:#b35900; --failing:#cf222e; --never:#6e7781; --ink:#1f2328; --muted:#59636e;
        --rule:#d1d9e0; --bar:#4078c0; --band:#f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 16px 24px; max-width: 1500px; color: var(--ink);
       font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px; margin-bottom: 10px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 4px; }
.meta { color: var(--muted); }
.pills { margin-left: auto; display: flex; gap: 6px; }
.pill, .state { display: inline-block; border-radius: 10px; padding: 1px 8px; color: #fff; font-weight: 600;
                white-space: nowrap; }
.fresh { background: var(--fresh); } .late { background: var(--late); }
.failing { background: var(--failing); } .never { background: var(--never); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top;
         white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted);
     border-bottom: 2px solid var(--rule); }
td.num, th.num { text-align: right; }
tr.failing-row td { background: #fff5f5; }
.error { color: var(--failing); font-size: 12px; }
td.error div { max-width: 42ch; overflow: hidden; text-overflow: ellipsis; }
.scroll { overflow-x: auto; }
ul.failures { margin: 6px 0 0; padding-left: 18px; color: var(--failing); white-space: normal; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-top: 14px; }
figure { margin: 0; border: 1px solid var(--rule); border-radius: 6px; padding: 8px 10px; }
figcaption { color: var(--muted); font-size: 12px; margin-bottom: 4px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 10px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg .axis text { fill: var(--muted); }
.note { color: var(--muted); margin: 8px 0 0; }
@media (max-width: 1100px) { .charts { grid-template-columns: 1fr; } }
@page { size: A4 landscape; margin: 8mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 8.5px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h1 { font-size: 14px; }
  h2 { font-size: 10px; }
  th, td { padding: 1px 5px; }
  th { font-size: 7.5px; }
  .error, ul.failures { font-size: 8px; }
  .scroll { overflow: visible; }
  .charts { grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 6px; break-inside: avoid; }
  figure { padding: 4px 6px; }
  figcaption { font-size: 8.5px; }
}
"""


def render_page(report: Report, *, warehouse: str = "") -> str:
    counts = report.counts()
    pills = "".join(
        f'<span class="pill {STATE_CLASS[state]}">{n} {escape(state)}</span>' for state, n in counts.items() if n
    )
    start = report.now - HISTORY
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>lorchestra status {report.now:%Y-%m-%d %H:%M} UTC</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>lorchestra status</h1>",
        f'<span class="meta">as of {report.now:%Y-%m-%d %H:%M} UTC · {escape(warehouse)} · late when the last'
        f" success is older than {report.late_factor:g}&times; the schedule&#39;s interval</span>",
        f'<span class="pills">{pills}</span></header>',
        _table(report),
        '<section class="charts">',
        '<figure id="chart-records"><h2>Records per day</h2>',
        f"<figcaption>{start:%d %b} &ndash; {report.now:%d %b %Y} (UTC days); bars scaled per row, its busiest day"
        " on the right; red dot = a day with a failed run</figcaption>",
        _records_chart(report),
        "</figure>",
        '<figure id="chart-durations"><h2>Run durations</h2>',
        "<figcaption>every run of the last 30 days, seconds on a log scale; red &times; = a failed run</figcaption>",
        _durations_chart(report),
        "</figure></section>",
    ]
    if report.unattributed_failures:
        at, error = report.unattributed_failures[-1]
        parts.append(
            f'<p class="note">{len(report.unattributed_failures)} failed run(s) named no connection (they failed'
            f" before any stream started); the latest at {at:%Y-%m-%d %H:%M} UTC: {escape(error)}</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(report: Report) -> str:
    if not report.rows:
        return '<p class="note">No connection is scheduled in meltano.yml or recorded in event_log.</p>'
    display = table_rows(report)
    numeric = {"age", "every", "ins/upd 24h", "ins/upd 7d", "objects"}
    headers = ["state", *(h for h in display[0] if h != "state"), "runs 30 d ok/failed", "last error"]
    out = ['<div class="scroll"><table id="status"><thead><tr>']
    out += [f'<th class="{"num" if h in numeric else ""}">{escape(h)}</th>' for h in headers]
    out.append("</tr></thead><tbody>")
    for row, cells in zip(report.rows, display, strict=True):
        css = STATE_CLASS[row.state]
        out.append(f'<tr class="{css}-row" data-connection="{escape(row.connection_name)}">')
        out.append(f'<td><span class="state {css}">{escape(row.state)}</span></td>')
        for header, value in cells.items():
            if header != "state":
                out.append(f'<td class="{"num" if header in numeric else ""}">{escape(value)}</td>')
        out.append(f'<td class="num">{row.runs_ok_30d}/{row.runs_failed_30d}</td>')
        error = row.error or ""
        out.append(f'<td class="error"><div title="{escape(error)}">{escape(error)}</div></td></tr>')
    out.append("</tbody></table></div>")
    failing = [r for r in report.rows if r.state == FAILING]
    if failing:  # the errors in full, as the table cuts them
        out.append('<ul class="failures">')
        out += [
            f"<li><b>{escape(r.connection_name)} · {escape(r.object_type or '-')}</b> failing since"
            f" {r.last_failure:%Y-%m-%d %H:%M} UTC: {escape(r.error or '')}</li>"
            for r in failing
        ]
        out.append("</ul>")
    return "".join(out)


# -- charts: one band per table row, the label column on the left, time running left to right -------

LABEL_W, PLOT_W, RIGHT_W, BAND_H, TOP, AXIS_H = 220, 400, 56, 17, 6, 22


def _frame(report: Report, title_right: str) -> tuple[list[str], int, int]:
    width = LABEL_W + PLOT_W + RIGHT_W
    height = TOP + BAND_H * max(1, len(report.rows)) + AXIS_H
    svg = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' preserveAspectRatio="xMinYMin meet" aria-label="{escape(title_right)}">'
    ]
    for i, row in enumerate(report.rows):
        y = TOP + i * BAND_H
        if i % 2 == 0:
            svg.append(f'<rect x="{LABEL_W}" y="{y}" width="{PLOT_W}" height="{BAND_H}" fill="var(--band)"/>')
        label = f"{row.connection_name} · {row.object_type or '-'}"
        svg.append(
            f'<text x="{LABEL_W - 6}" y="{y + BAND_H - 5}" text-anchor="end">{escape(label)}</text>'
            f'<circle cx="6" cy="{y + BAND_H / 2}" r="3.5" fill="var(--{STATE_CLASS[row.state]})"/>'
        )
    svg.append(_time_axis(report, TOP + BAND_H * max(1, len(report.rows))))
    return svg, width, height


def _x(report: Report, at: dt.datetime) -> float:
    span = HISTORY.total_seconds()
    return LABEL_W + PLOT_W * max(0.0, min(1.0, 1 - (report.now - at).total_seconds() / span))


def _time_axis(report: Report, y: int) -> str:
    out = [f'<g class="axis"><line x1="{LABEL_W}" y1="{y}" x2="{LABEL_W + PLOT_W}" y2="{y}" stroke="var(--rule)"/>']
    for days_back in range(DAYS, -1, -7):
        at = report.now - dt.timedelta(days=days_back)
        x = _x(report, at)
        anchor = "end" if days_back == 0 else "middle"
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{y + 3}" stroke="var(--rule)" stroke-dasharray="2 3"/>'
            f'<text x="{x:.1f}" y="{y + 14}" text-anchor="{anchor}">{at:%d %b}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _day_index(report: Report, at: dt.datetime) -> int:
    """0 for the oldest of the 30 UTC days that end with today, 29 for today."""
    return DAYS - 1 - (report.now.date() - at.astimezone(dt.UTC).date()).days


def _records_chart(report: Report) -> str:
    svg, _, _ = _frame(report, "records per day per connection over the last 30 days")
    step = PLOT_W / DAYS
    for i, row in enumerate(report.rows):
        y = TOP + i * BAND_H
        records, failures = [0] * DAYS, [0] * DAYS
        for run in row.runs:
            day = _day_index(report, run.at)
            if 0 <= day < DAYS:  # a failed run commits nothing: its records are not counted
                records[day] += 0 if run.failed else run.records
                failures[day] += run.failed
        peak = max(records)
        for day in range(DAYS):
            x = LABEL_W + day * step
            date = (report.now - dt.timedelta(days=DAYS - 1 - day)).date()
            if records[day]:
                h = max(1.5, (BAND_H - 4) * records[day] / peak)
                svg.append(
                    f'<rect x="{x + 1:.1f}" y="{y + BAND_H - 1 - h:.1f}" width="{step - 2:.1f}" height="{h:.1f}"'
                    f' class="bar" fill="var(--bar)">'
                    f"<title>{escape(row.connection_name)} {date}: {records[day]} records</title></rect>"
                )
            if failures[day]:
                svg.append(
                    f'<circle class="failure" cx="{x + step / 2:.1f}" cy="{y + 4}" r="3" fill="var(--failing)">'
                    f"<title>{escape(row.connection_name)} {date}: {failures[day]} failed run(s)</title></circle>"
                )
        svg.append(f'<text x="{LABEL_W + PLOT_W + 4}" y="{y + BAND_H - 5}">{peak:,}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _durations_chart(report: Report) -> str:
    svg, _, _ = _frame(report, "run durations per connection over the last 30 days")
    runs = [(i, run) for i, row in enumerate(report.rows) for run in row.runs]
    if sum(not run.failed for _, run in runs) > MAX_DOTS:
        runs = _longest_per_day(report)
    longest = max((run.duration_seconds for _, run in runs), default=1.0)
    top = math.log10(max(longest, 1.0) + 1)
    for i, run in runs:
        row: Row = report.rows[i]
        x = _x(report, run.at)
        # log scale inside the band: a 0.1 s run sits at the bottom, the longest at the top.
        y = TOP + i * BAND_H + BAND_H - 3 - (BAND_H - 6) * math.log10(run.duration_seconds + 1) / top
        tip = f"{escape(row.connection_name)} {run.at:%Y-%m-%d %H:%M}: {duration(run.duration_seconds)}"
        if run.failed:
            tip += f", FAILED: {escape(run.error or '')}"
            svg.append(
                f'<path class="failure" d="M{x - 3:.1f},{y - 3:.1f}l6,6m0,-6l-6,6" stroke="var(--failing)"'
                f' stroke-width="1.8">'
                f"<title>{tip}</title></path>"
            )
        else:
            svg.append(
                f'<circle class="run" cx="{x:.1f}" cy="{y:.1f}" r="2" fill="var(--bar)" fill-opacity=".75">'
                f"<title>{tip}</title>"
                "</circle>"
            )
    svg.append(f'<text x="{LABEL_W + PLOT_W + 4}" y="{TOP + 9}">max {duration(longest)}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _longest_per_day(report: Report) -> list[tuple[int, Run]]:
    """Every failed run, and each row's longest successful run of each day."""
    kept = []
    for i, row in enumerate(report.rows):
        best: dict[int, Run] = {}
        for run in row.runs:
            if run.failed:
                kept.append((i, run))
                continue
            day = _day_index(report, run.at)
            if day not in best or run.duration_seconds > best[day].duration_seconds:
                best[day] = run
        kept.extend((i, run) for run in best.values())
    return kept
