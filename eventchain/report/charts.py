"""The report's charts as plotly figures (drawn in the browser from inlined plotly.js)."""

from __future__ import annotations

from typing import Any, Final

import plotly.graph_objects as go

from domain.touchpoints import CHANNELS
from domain.vocabulary import STAGES
from projections.queries import CTRE

WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CHART_CONFIG: Final = {"displaylogo": False, "responsive": True}
# Each channel keeps its colour in every chart and every role's report.
_PALETTE: Final = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d", "#bab0ac")
CHANNEL_COLOURS: Final = {channel: _PALETTE[i % len(_PALETTE)] for i, channel in enumerate(sorted(CHANNELS))}
_LAYOUT: Final[dict[str, Any]] = {
    "template": "plotly_white",
    "height": 380,
    "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
    "font": {"family": "system-ui, 'Noto Sans CJK SC', sans-serif"},
}


def funnel_figure(funnel: list[tuple[str, str, int, int]]) -> go.Figure:
    """Leads per stage (top: lead), stacked by lead channel (the ``funnel`` view)."""
    stages = [s for s in STAGES if any(row[0] == s for row in funnel)]
    stages += sorted({row[0] for row in funnel} - set(stages))
    figure = go.Figure()
    for channel in sorted({row[1] for row in funnel}):
        counts = {row[0]: row[2] for row in funnel if row[1] == channel}
        figure.add_bar(
            name=channel,
            orientation="h",
            y=stages,
            x=[counts.get(s, 0) for s in stages],
            marker_color=CHANNEL_COLOURS.get(channel, "#888888"),
        )
    figure.update_layout(
        _LAYOUT,
        title="Leads by stage × lead channel",
        barmode="stack",
        yaxis={"autorange": "reversed", "title": "stage"},
        xaxis={"title": "customers"},
    )
    return _with_empty_note(figure, bool(funnel))


def ctre_figure(ctre: CTRE) -> go.Figure:
    """Mean first-response hours per first-touch channel, with CTRE as a line across."""
    figure = go.Figure()
    figure.add_bar(
        x=[c.channel for c in ctre.channels],
        y=[round(c.mean_response_hours, 2) for c in ctre.channels],
        text=[
            f"{c.mean_response_hours:.1f} h · {c.leads} lead{'' if c.leads == 1 else 's'}"
            for c in ctre.channels
        ],
        textposition="outside",
        marker_color=[CHANNEL_COLOURS.get(c.channel, "#888888") for c in ctre.channels],
        name="mean response (h)",
    )
    if ctre.ctre_hours is not None:
        figure.add_hline(
            y=ctre.ctre_hours,
            line_dash="dash",
            line_color="#1d2330",
            annotation_text=f"CTRE {ctre.ctre_hours:.1f} h",
            annotation_position="bottom right",
            annotation_bgcolor="rgba(255,255,255,0.85)",
        )
    figure.update_layout(
        _LAYOUT,
        title="Mean hours to first response",
        yaxis={"title": "hours to first response"},
        showlegend=False,
    )
    return _with_empty_note(figure, bool(ctre.channels))


def heatmap_figure(cells: list[tuple[int, int, int, float]]) -> go.Figure:
    """Mean response hours by the weekday and hour (China time) the lead came in."""
    hours: list[list[float | None]] = [[None] * 24 for _ in WEEKDAYS]
    leads: list[list[int]] = [[0] * 24 for _ in WEEKDAYS]
    for weekday, hour, count, mean_hours in cells:
        hours[weekday - 1][hour] = round(mean_hours, 2)
        leads[weekday - 1][hour] = count
    figure = go.Figure(
        go.Heatmap(
            z=hours,
            x=list(range(24)),
            y=list(WEEKDAYS),
            customdata=leads,
            colorscale="YlOrRd",
            colorbar={"title": "hours"},
            hoverongaps=False,
            hovertemplate="%{y} %{x}:00 · %{customdata} leads · %{z} h<extra></extra>",
        )
    )
    figure.update_layout(
        _LAYOUT,
        title="Lead weekday × hour (UTC+8)",
        xaxis={"title": "hour of day", "dtick": 2},
        yaxis={"autorange": "reversed"},
    )
    return _with_empty_note(figure, bool(cells))


def _with_empty_note(figure: go.Figure, has_data: bool) -> go.Figure:
    if not has_data:
        figure.add_annotation(
            text="no data for this role and period", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    return figure
