"""Assembles the self-contained HTML page: plotly.js inlined once, then every section."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, Final

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from eventchain.report.charts import CHART_CONFIG, ctre_figure, funnel_figure, heatmap_figure
from projections.queries import ReportData, Table

STYLE: Final = """
body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.8;font-size:13px}main{padding:16px 32px;max-width:1280px;margin:auto}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px}
.kpi{background:#fff;border-radius:8px;padding:12px 16px;min-width:140px;box-shadow:0 1px 2px #0002}
.kpi b{display:block;font-size:22px}.kpi span{font-size:12px;color:#5b6475}
section{background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
section h2{font-size:17px;margin:4px 0 8px}.note{font-size:12px;color:#5b6475}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}.grid section{margin:0}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{padding:4px 8px;text-align:left;
border-bottom:1px solid #e3e6eb}th{background:#f0f2f5}.scroll{max-height:320px;overflow:auto}
"""


def render_page(data: ReportData, generated_at: datetime, source: str) -> str:
    charts = {
        "funnel": funnel_figure(data.funnel),
        "ctre": ctre_figure(data.ctre),
        "heatmap": heatmap_figure(data.heatmap),
    }
    body = "\n".join(
        [
            _header(data, generated_at, source),
            "<main>",
            _kpis(data),
            _section("Funnel", _chart(charts["funnel"], "funnel"), _funnel_note(data)),
            '<div class="grid">',
            _section("CTRE by channel", _chart(charts["ctre"], "ctre"), _ctre_table(data)),
            _section(
                "Response heatmap",
                _chart(charts["heatmap"], "heatmap"),
                '<p class="note">Leads by the weekday and hour (event time, UTC+8) they arrived; '
                "colour: mean hours to first response.</p>",
            ),
            "</div>",
            _section(
                "SLA breaches",
                f'<p class="note">{data.breached_leads} leads missed their first-response deadline; '
                f"{data.sla_breaches.total} escalation steps:</p>",
                _table(data.sla_breaches, "no first-response deadline missed"),
            ),
            _section("Silent customers", _table(data.silent_customers, "no silent customer")),
            _optional_section("Journey break points", data.journey_breakpoints),
            _optional_section("Data health", data.data_health),
            "</main>",
        ]
    )
    # plotly.js goes in once, in the head; every chart div below only calls Plotly.newPlot.
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>eventchain report · {escape(str(data.role))}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>\n<body>\n{body}\n</body></html>\n'
    )


def _header(data: ReportData, generated_at: datetime, source: str) -> str:
    period = f"{_when(data.window.start, 'the beginning')} → {_when(data.window.end, 'now')}"
    return (
        f"<header><h1>eventchain dashboard</h1><p>role <b>{escape(str(data.role))}</b> · period "
        f"{escape(period)} · events up to {escape((data.as_of or '—')[:16])} (UTC+8) · generated "
        f"{generated_at.isoformat(timespec='seconds')} from {escape(source)}</p></header>"
    )


def _when(moment: datetime | None, default: str) -> str:
    return default if moment is None else moment.isoformat(timespec="minutes")


def _kpis(data: ReportData) -> str:
    ctre = data.ctre
    leads = sum(c.leads for c in ctre.channels)
    responded = sum(c.responded for c in ctre.channels)
    figures = [
        ("customers", str(data.visible_customers)),
        ("leads", str(leads)),
        ("answered", str(responded)),
        ("CTRE", "—" if ctre.ctre_hours is None else f"{ctre.ctre_hours:.2f} h"),
        ("balance index", "—" if ctre.balance_index is None else f"{ctre.balance_index:.2f}"),
        ("SLA breaches (leads)", str(data.breached_leads)),
        ("silent customers", str(data.silent_customers.total)),
    ]
    cards = "".join(f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in figures)
    return f'<div class="kpis">{cards}</div>'


def _chart(figure: go.Figure, name: str) -> str:
    html: Any = figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{name}", config=CHART_CONFIG
    )
    return str(html)


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def _optional_section(title: str, table: Table | None) -> str:
    if table is None:
        return ""
    return _section(title, _table(table, "nothing to report"))


def _funnel_note(data: ReportData) -> str:
    rows = [(stage, channel, n, f"{followed / n:.0%}") for stage, channel, n, followed in data.funnel]
    table = Table(["stage", "channel", "customers", "followed up within 7 days"], rows)
    return _table(table, "no customers for this role and period")


def _ctre_table(data: ReportData) -> str:
    ctre = data.ctre
    rows: list[tuple[Any, ...]] = [
        (c.channel, c.leads, c.responded, f"{c.mean_response_hours:.2f}", f"{c.lead_share:.0%}")
        for c in ctre.channels
    ]
    if ctre.ctre_hours is not None:
        rows.append(
            (
                "* total (CTRE)",
                sum(c.leads for c in ctre.channels),
                sum(c.responded for c in ctre.channels),
                f"{ctre.ctre_hours:.2f}",
                "100%",
            )
        )
    table = _table(Table(["channel", "leads", "answered", "mean hours", "lead share"], rows), "no leads")
    note = (
        '<p class="note">CTRE = Σ mean response hours × lead share; unanswered leads count their '
        f"elapsed time. Balance index (share-weighted coefficient of variation, 0 = every channel "
        f"answered equally fast): {'—' if ctre.balance_index is None else f'{ctre.balance_index:.2f}'}.</p>"
    )
    return table + note


def _table(table: Table, empty: str) -> str:
    if not table.rows:
        return f'<p class="note">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    cut = f'<p class="note">first {len(table.rows)} of {table.total} rows</p>' if table.cut else ""
    rows = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{rows}</div>{cut}'


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)
