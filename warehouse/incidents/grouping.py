"""Incidents across the spend hierarchy grouped into one page.

One cause (a feature's prompt grew, a model's cache collapsed) fires several spend series
at once: the total, the feature, the feature x model, per hour and per trailing day. Each
keeps its own incident (the API lists them, each resolves when its series is quiet), but
they share **one page**: an incident that opens while a related one is open joins its group
(`group_id`: the group's first incident, the *root*), and only the group pages.

Related: both spend anomalies in the same direction, one series' dimensions within the
other's (total > feature > feature x model; total > model > feature x model; total >
tenant), overlapping windows, and the same main cause where both were explained.

The page (`page`): the **most specific** open member on top (the most dimensions, then the
largest peak impact: `feature=search|model=openai/gpt-4o` before `feature=search` before
`total`), its figures never summed with the others' (they overlap), the others listed under
it in `details.grouped`; the root's id, dedup key and what it sent, so every channel sees one
incident and PagerDuty one `dedup_key`; the highest severity of the group. It triggers when
the group reaches a severity not yet sent and resolves when its last member resolves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from warehouse.incidents.policy import severity_rank

if TYPE_CHECKING:
    from warehouse.incidents.lifecycle import Incident

KIND = "spend_anomaly"


def dimensions(series: str) -> frozenset[str] | None:
    """A spend series' dimensions (`spend:<grain>:feature=a|model=b` -> {feature=a, model=b},
    `total` -> none); None for a series of another kind."""
    prefix, _, rest = series.partition(":")
    grain, _, dims = rest.partition(":")
    if prefix != "spend" or not grain or not dims:
        return None
    return frozenset() if dims == "total" else frozenset(dims.split("|"))


def main_cause(incident: Incident) -> str | None:
    explanation = incident.details.get("explanation")
    cause = explanation.get("main_cause") if isinstance(explanation, dict) else None
    return cause if isinstance(cause, str) else None


def related(a: Incident, b: Incident) -> bool:
    """Whether `a` and `b` are one cause seen at two levels of the hierarchy."""
    if a.kind != KIND or b.kind != KIND or a.direction != b.direction:
        return False
    mine, theirs = dimensions(a.series), dimensions(b.series)
    if mine is None or theirs is None or not (mine <= theirs or theirs <= mine):
        return False
    if not (a.window_start < b.window_end and b.window_start < a.window_end):
        return False
    causes = main_cause(a), main_cause(b)
    return None in causes or causes[0] == causes[1]


def group_for(incident: Incident, open_incidents: Iterable[Incident]) -> int | None:
    """The group an opening incident joins: that of a related open incident (the oldest
    group), or None (it starts its own)."""
    groups = [
        other.group_id or other.id
        for other in open_incidents
        if other.id != incident.id and other.status == "open" and related(incident, other)
    ]
    return min(groups) if groups else None


def specificity(incident: Incident) -> tuple[int, Decimal, int]:
    """Most specific first when sorted in reverse: dimensions, then peak impact, then age."""
    return (len(dimensions(incident.series) or ()), incident.peak_impact_usd, -incident.id)


def page(root: Incident, members: list[Incident]) -> Incident:
    """What the group sends: the most specific member, under the root's id, dedup key and
    notification state, at the group's highest severity, the others in `details.grouped`.
    A group of one is that incident itself."""
    ranked = sorted(members, key=specificity, reverse=True)
    lead, others = ranked[0], ranked[1:]
    severity = max(
        [m.severity for m in members] + [root.notified_severity or "info"], key=severity_rank
    )
    details: dict[str, Any] = dict(lead.details)
    title = lead.title
    if others:
        details["grouped"] = [
            {
                "incident_id": m.id,
                "series": m.series,
                "title": m.title,
                "impact_usd": format(m.impact_usd.normalize(), "f"),
            }
            for m in others
        ]
        title = f"{lead.title} (and {len(others)} related series)"
    if lead is root and not others:
        return root
    return replace(
        lead,
        id=root.id,
        group_id=root.id,
        dedup_key=root.dedup_key,
        severity=severity,
        title=title,
        details=details,
        notified_severity=root.notified_severity,
        suppressed_severity=root.suppressed_severity,
        notified_channels=root.notified_channels,
        acknowledged_at=root.acknowledged_at,
        acknowledged_by=root.acknowledged_by,
    )


def sent(root: Incident, page: Incident) -> Incident:
    """The root after its group's page was decided: what the page sent is the root's."""
    return replace(
        root,
        notified_severity=page.notified_severity,
        suppressed_severity=page.suppressed_severity,
        notified_channels=page.notified_channels,
        acknowledged_at=page.acknowledged_at,
        acknowledged_by=page.acknowledged_by,
    )
