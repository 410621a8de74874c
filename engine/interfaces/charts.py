"""Plotly figures shared by the app, the CLI's HTML report and docs/calibration.md."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

LEVELS = ("50", "80", "95")
TEMPLATE = "plotly_white"
COLORS = {"model": "#e10600", "start": "#1f77b4", "uniform": "#9e9e9e", "inclusive": "#ff9f43"}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template=TEMPLATE, height=420,
                      margin=dict(l=60, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def coverage_chart(report: dict) -> go.Figure:
    """Nominal against empirical coverage of central intervals of finishing position."""
    nominal = [int(k) / 100 for k in LEVELS]
    m = report["model"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0.4, 1.0], y=[0.4, 1.0], mode="lines", name="perfect calibration", line=dict(dash="dot", color="#444")))
    fig.add_trace(go.Scatter(x=nominal, y=[m["pit_coverage"][k] for k in LEVELS], mode="lines+markers",
                             name="randomized PIT (exact for ranks)", marker=dict(size=10), line=dict(color=COLORS["model"])))
    fig.add_trace(go.Scatter(x=nominal, y=[m["coverage"][k] for k in LEVELS], mode="lines+markers",
                             name="inclusive intervals (over-cover ranks)", line=dict(color=COLORS["inclusive"])))
    if m.get("dk_points_coverage"):
        fig.add_trace(go.Scatter(x=nominal, y=[m["dk_points_coverage"][k] for k in LEVELS], mode="lines+markers",
                                 name="DK points intervals", line=dict(color=COLORS["start"])))
    return _layout(fig, f"Coverage, {report['rows']:,} driver results in {report['races']} races", "nominal coverage", "empirical coverage")


def pit_chart(report: dict) -> go.Figure:
    """Histogram of the randomized PIT of finishing positions (flat at 0.1 when calibrated)."""
    h = report["pit_histogram"]
    centers = (np.arange(len(h)) + 0.5) / len(h)
    fig = go.Figure(go.Bar(x=centers, y=h, width=1 / len(h) * 0.95, marker_color=COLORS["model"], name="PIT"))
    fig.add_hline(y=1 / len(h), line_dash="dot", annotation_text="uniform")
    return _layout(fig, "Randomized PIT of finishing position", "PIT value", "share of results")


def reliability_chart(report: dict, events: tuple[str, ...] = ("win", "top3", "top5", "top10", "top20", "dnf")) -> go.Figure:
    """Forecast probability against observed frequency for binary events."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dot", color="#444")))
    for ev in events:
        r = report["reliability"].get(ev)
        if not r:
            continue
        bins = [b for b in r["bins"] if b["n"] >= 20]
        fig.add_trace(go.Scatter(x=[b["forecast"] for b in bins], y=[b["observed"] for b in bins], mode="lines+markers",
                                 name=f"{ev} (Brier {r['brier']:.3f})", text=[f"n={b['n']}" for b in bins]))
    return _layout(fig, "Reliability (bins with at least 20 results)", "forecast probability", "observed frequency")


def crps_chart(report: dict) -> go.Figure:
    """Mean CRPS of finishing position by track type: model against the baselines (lower is better)."""
    types = sorted(report["by_track_type"])
    cats = ["all"] + types
    parts = [report] + [report["by_track_type"][t] for t in types]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=cats, y=[p["model"]["crps"] for p in parts], name="model", marker_color=COLORS["model"]))
    fig.add_trace(go.Bar(x=cats, y=[p["baselines"]["start"]["crps"] for p in parts], name="start position x track type", marker_color=COLORS["start"]))
    fig.add_trace(go.Bar(x=cats, y=[p["baselines"]["uniform"]["crps"] for p in parts], name="uniform", marker_color=COLORS["uniform"]))
    fig.update_layout(barmode="group")
    return _layout(fig, "CRPS of finishing position (lower is better)", "track type", "mean CRPS (positions)")


def _series_titled(fn):
    """A calibration chart whose title names the report's series ("NXS: Coverage, ...")."""
    def chart(report: dict) -> go.Figure:
        from engine.core.series import SHORT_NAMES

        fig = fn(report)
        label = SHORT_NAMES[report.get("settings", {}).get("series", "cup")]
        return fig.update_layout(title=f"{label}: {fig.layout.title.text}")

    chart.__doc__ = fn.__doc__
    return chart


CALIBRATION_CHARTS = {name: _series_titled(fn) for name, fn in
                      {"coverage": coverage_chart, "pit": pit_chart, "reliability": reliability_chart, "crps": crps_chart}.items()}


def figure_html(fig: go.Figure, standalone: bool = True) -> str:
    """A chart as HTML; standalone embeds plotly.js so the file opens offline."""
    return pio.to_html(fig, include_plotlyjs="inline" if standalone else False, full_html=standalone)


def figure_png(fig: go.Figure) -> bytes | None:
    """PNG bytes when a static exporter (kaleido with a Chromium) works here, else None."""
    try:
        return pio.to_image(fig, format="png", width=900, height=420)
    except Exception:  # kaleido missing or no browser for it: PNG export is optional
        return None


def _metric_row(part: dict) -> dict:
    m, b = part["model"], part["baselines"]
    return {
        "races": part["races"], "rows": part["rows"],
        "CRPS": round(m["crps"], 3), "start CRPS": round(b["start"]["crps"], 3), "uniform CRPS": round(b["uniform"]["crps"], 3),
        "vs start": f"{100 * (1 - m['crps'] / b['start']['crps']):+.1f}%",
        "log score": round(m["log_score"], 3), "start log": round(b["start"]["log_score"], 3),
        "MAE": round(m["mae"], 2), "rank MAE": round(m["rank_mae"], 2), "start MAE": round(b["start"]["mae"], 2),
        "PIT 50/80/95": "/".join(f"{m['pit_coverage'][k]:.3f}" for k in LEVELS),
        "incl. 50/80/95": "/".join(f"{m['coverage'][k]:.3f}" for k in LEVELS),
        "DK CRPS": round(m["dk_points_crps"], 2) if m.get("dk_points_crps") is not None else None,
    }


def season_rows(report: dict) -> list[dict]:
    """Each scored season (and all pooled), with the model that forecast it: its hash and fit seasons."""
    fits = report["settings"].get("fits", {})
    rows = []
    for season, part in sorted(report.get("by_season", {}).items()):
        f = fits.get(season, {})
        span = f"{f['fit_seasons'][0]}-{f['fit_seasons'][1]}" if f.get("fit_seasons") else "?"
        rows.append({"season": season, "model": f"{f.get('model_hash', '?')} fitted on {span}", **_metric_row(part)})
    rows.append({"season": "pooled", "model": f"method {report['settings'].get('method_hash', '?')}", **_metric_row(report)})
    return rows


RELIABILITY_EVENTS = ("win", "top3", "top5", "top10", "top20", "dnf")


def _reliability_cells(part: dict) -> dict:
    def cell(ev):
        r = part.get(ev)
        if not r:
            return None
        gap = "-" if r["max_gap"] is None else f"{r['max_gap']:.3f}"
        return f"{gap} / {r['brier_skill']:+.3f}" if r.get("brier_skill") is not None else gap

    w = part.get("winner_log_loss", {})
    return {**{f"{ev} gap / BSS": cell(ev) for ev in RELIABILITY_EVENTS},
            "winner log-loss (start)": f"{w['model']:.3f} ({w['start']:.3f})" if w else None}


def reliability_rows(report: dict) -> list[dict]:
    """Per season and pooled: each event's largest reliability gap over bins of at least 100
    results and its Brier skill score against the base rate; the winner log-loss against the
    start baseline's."""
    rs = report.get("reliability_summary")
    if not rs:
        return []
    rows = [{"season": y, **_reliability_cells(part)} for y, part in sorted(rs["by_season"].items())]
    return rows + [{"season": "pooled", **_reliability_cells(rs["pooled"])}]


def grid_rows(report: dict) -> list[dict]:
    """Per season and pooled, the qualifying model's predicted grid against the real one (mean
    absolute error of the order), next to the grid in order of skill."""
    g = report.get("grid")
    if not g:
        return []
    parts = sorted(g["by_season"].items()) + [("pooled", g["pooled"])]
    return [{"season": y, "qualifying model grid MAE": "-" if p["model_mae"] is None else f"{p['model_mae']:.2f}",
             "skill order MAE": f"{p['skill_order_mae']:.2f}"} for y, p in parts]


def structure_rows(report: dict) -> list[dict]:
    """Per track type, the real races' DNF rate, multi-car incidents, leaders and top-leader share
    against the simulated races' (real / simulated)."""
    rows = []
    for t, part in sorted(report.get("structure_by_track_type", {}).items()):
        rows.append({"track type": t, "races": part["races"],
                     **{k.replace("_", " "): f"{part[k]['real']:.3f} / {part[k]['simulated']:.3f}"
                        for k in ("dnf_rate", "incidents_per_race", "leaders", "top_leader_share")}})
    return rows


def summary_rows(report: dict) -> list[dict]:
    """Model and baselines, overall and by track type, as table rows."""
    rows = []
    for name, part in [("all", report)] + sorted(report["by_track_type"].items()):
        rows.append({"track type": name, **_metric_row(part)})
    return rows


def fit_sentence(report: dict) -> str:
    """Which models scored the report: each season's (rolling origin) or the one given."""
    s = report["settings"]
    if s.get("rolling_origin"):
        fits = ", ".join(f"{y} by model {f['model_hash']} fitted on {f['fit_seasons'][0]}-{f['fit_seasons'][1]}"
                         for y, f in sorted(s["fits"].items()))
        return f"rolling origin, method {s['method_hash']}: {fits}"
    return f"model {s['model_hash']} fitted on {s['model_fit_seasons'][0]}-{s['model_fit_seasons'][-1]}"


def report_html(report: dict, title: str | None = None) -> str:
    """A standalone HTML report (plotly.js embedded once; opens offline)."""
    from engine.core.series import SERIES_NAMES

    title = title or f"Pitwall calibration report: {SERIES_NAMES[report['settings'].get('series', 'cup')]}"
    def table(rows: list[dict]) -> str:
        head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    charts = [pio.to_html(fn(report), include_plotlyjs="inline" if i == 0 else False, full_html=False)
              for i, fn in enumerate(CALIBRATION_CHARTS.values())]
    s = report["settings"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{background:#f4f4f4}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Seasons {s['seasons'][0]}-{s['seasons'][-1]}{' (' + html.escape(s['track_type']) + ')' if s.get('track_type') else ''};
{html.escape(fit_sentence(report))}; {s['scenarios_per_race']:,} simulated races per race, seed {s['seed']}.</p>
<h2>By season</h2>{table(season_rows(report))}<h2>Pooled, by track type</h2>{table(summary_rows(report))}
{('<h2>Reliability as numbers (largest gap over bins of 100+ results / Brier skill score)</h2>' + table(reliability_rows(report))) if reliability_rows(report) else ''}
{('<h2>Race structure by track type (real / simulated)</h2>' + table(structure_rows(report))) if structure_rows(report) else ''}
{('<h2>Starting grid: the qualifying model against the real grid</h2>' + table(grid_rows(report))) if grid_rows(report) else ''}
{''.join(charts)}
</body></html>"""


MD_TITLE = "# Calibration of the Pitwall simulator"


def write_markdown(report: dict, path: Path, assets: Path, command: str) -> list[Path]:
    """docs/calibration.md: one section per series (this report's replaces its own section and
    keeps the others), each with its tables, its charts (PNG when static export works here, else
    standalone HTML files) and the command that regenerates it."""
    from engine.core.series import SERIES, SERIES_NAMES

    series = report["settings"].get("series", "cup")
    assets.mkdir(parents=True, exist_ok=True)
    written = []
    prefix = "calibration" if series == "cup" else f"calibration_{series}"
    lines = [f"<!-- series:{series} -->", f"## {SERIES_NAMES[series]}", "", f"Regenerate with `{command}`.", ""]
    s = report["settings"]
    lines += [f"Scored: seasons {s['seasons'][0]}-{s['seasons'][-1]}, {report['races']} races, {report['rows']:,} driver results; "
              f"{fit_sentence(report)}; {s['scenarios_per_race']:,} simulated races per race; seed {s['seed']}; "
              f"run time {report['seconds']} s.", ""]
    lines += target_lines(report)
    sections = (("By season (each forecast by the model fitted on the seasons before it)", season_rows(report)),
                ("Pooled, by track type", summary_rows(report)),
                ("Reliability as numbers: the largest gap |forecast - observed| over bins of at least 100 results / Brier skill "
                 "score against the base rate; winner log-loss against the start baseline's", reliability_rows(report)),
                ("Race structure by track type, out of sample (real / simulated)", structure_rows(report)),
                ("Starting grid: the qualifying model's predicted grid against the real one (mean absolute error of the order), "
                 "next to the grid in order of skill", grid_rows(report)))
    for heading, rows in ((h, r) for h, r in sections if r):
        keys = list(rows[0])
        lines += [f"### {heading}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for r in rows:
            lines.append("| " + " | ".join("" if r[k] is None else str(r[k]) for k in keys) + " |")
        lines.append("")
    for name, fn in CALIBRATION_CHARTS.items():
        fig = fn(report)
        png = figure_png(fig)
        if png is not None:
            f = assets / f"{prefix}_{name}.png"
            f.write_bytes(png)
            lines.append(f"![{name}]({f.relative_to(path.parent).as_posix()})")
        else:
            f = assets / f"{prefix}_{name}.html"
            f.write_text(figure_html(fig))
            lines.append(f"[{name} chart]({f.relative_to(path.parent).as_posix()}) (static PNG export is not available here)")
        written.append(f)
        lines.append("")
    lines.append(f"<!-- /series:{series} -->")
    kept = _series_sections(path.read_text() if path.exists() else "")
    kept[series] = "\n".join(lines)
    header = [MD_TITLE, "",
              "One section per series. CRPS: ranked probability score of the finishing position (lower is better). Log score: "
              f"mean log probability of the real position, Jeffreys smoothing a = {s['log_score_smoothing']} (higher is better). "
              "PIT coverage: central intervals from the randomized PIT (exact for ranks); inclusive intervals over-cover ranks. "
              "Baselines: uniform over the field; finish given start position and track type from the fit seasons; start "
              "position as the point forecast.", ""]
    path.write_text("\n".join(header) + "\n" + "\n\n".join(kept[k] for k in SERIES if k in kept) + "\n")
    return written + [path]


def _series_sections(text: str) -> dict[str, str]:
    """The per-series sections of an existing calibration page (a page written before series had none)."""
    import re

    return {m.group(1): m.group(0) for m in re.finditer(r"<!-- series:(\w+) -->.*?<!-- /series:\1 -->", text, flags=re.S)}


TARGETS = {"crps_below_start": 0.03, "pit_within": 0.04}  # issue 21: each series' newest season against the start baseline


def target_lines(report: dict) -> list[str]:
    """Whether the newest scored season beats the start baseline on CRPS (by 3% or more) and log
    score, and has PIT coverage within 0.04 of nominal: the calibration targets of every series."""
    v = target_check(report)
    if v is None:
        return []
    cov = ", ".join(f"{k}% {v['coverage'][k]:.3f}" for k in LEVELS)
    return [f"Targets, newest season {v['season']}: CRPS {v['crps']:.3f} vs start baseline {v['start_crps']:.3f} "
            f"({v['crps_gain']:+.1%}; target -3% or better: {'met' if v['crps_ok'] else 'missed'}); log score {v['log']:.3f} vs "
            f"{v['start_log']:.3f} ({'better' if v['log_ok'] else 'not better'}); PIT coverage {cov} (target within 0.04: "
            f"{'met' if v['pit_ok'] else 'missed'}).", ""]


def target_check(report: dict) -> dict | None:
    """The figures of ``target_lines`` (None without a by-season part)."""
    seasons = report.get("by_season") or {}
    if not seasons:
        return None
    season = max(seasons, key=int)
    part = seasons[season]
    m, b = part["model"], part["baselines"]["start"]
    gain = m["crps"] / b["crps"] - 1.0
    cov = {k: m["pit_coverage"][k] for k in LEVELS}
    return {"season": season, "crps": m["crps"], "start_crps": b["crps"], "crps_gain": gain,
            "crps_ok": gain <= -TARGETS["crps_below_start"], "log": m["log_score"], "start_log": b["log_score"],
            "log_ok": m["log_score"] > b["log_score"], "coverage": cov,
            "pit_ok": all(abs(cov[k] - int(k) / 100) <= TARGETS["pit_within"] for k in LEVELS)}


# ----------------------------------------------------------------------------- optimize results
def exposure_chart(summary: dict) -> go.Figure:
    """Exposure of each driver in the portfolio next to optimal% (share of races where the
    driver is in that race's best lineup)."""
    ex = summary["exposures"]
    opt = {r["driver_id"]: r["optimal_pct"] for r in summary.get("optimal_pct", [])}
    names = [r["name"] for r in ex]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[100 * r["exposure"] for r in ex], name="exposure %", marker_color=COLORS["model"]))
    if opt:
        fig.add_trace(go.Bar(x=names, y=[100 * opt.get(r["driver_id"], 0) for r in ex], name="optimal %", marker_color=COLORS["start"]))
    fig.update_layout(barmode="group")
    fig = _layout(fig, f"Exposures of {len(summary['lineups'])} lineups", "driver", "% of lineups / of races")
    # the legend above the plot, clear of the rotated driver names under it
    fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"), height=480,
                      margin=dict(l=60, r=20, t=80, b=140))
    fig.update_xaxes(tickangle=-45, automargin=True)
    return fig


def optimal_pct_chart(summary: dict, top: int = 25) -> go.Figure:
    rows = summary.get("optimal_pct", [])[:top]
    fig = go.Figure(go.Bar(x=[r["name"] for r in rows], y=[100 * r["optimal_pct"] for r in rows], marker_color=COLORS["start"]))
    return _layout(fig, "Optimal% (share of simulated races where the driver is in the best lineup)", "driver", "optimal %")


def lineup_points_chart(points: np.ndarray, lineups: list[list[int]], limit: int = 20) -> go.Figure:
    """Distribution of each lineup's fantasy points over the simulated races."""
    fig = go.Figure()
    for k, lu in enumerate(lineups[:limit]):
        fig.add_trace(go.Box(y=points[:, lu].sum(axis=1), name=f"#{k + 1}", boxpoints=False, marker_color=COLORS["model"]))
    return _layout(fig, "Points per lineup over the simulated races", "lineup", "points")


def driver_distribution_chart(values: np.ndarray, names: list[str], title: str, y: str, order: np.ndarray | None = None) -> go.Figure:
    """Box plot per driver of a simulated quantity (scenarios x drivers)."""
    idx = order if order is not None else np.argsort(np.median(values, axis=0))
    fig = go.Figure()
    for i in idx:
        fig.add_trace(go.Box(y=values[:, i], name=names[i], boxpoints=False, marker_color=COLORS["model"], showlegend=False))
    return _layout(fig, title, "driver", y)


def skeleton_chart(skeleton) -> go.Figure:
    """Histograms of the race skeletons: cautions, multi-car incidents, leaders, DNFs."""
    from plotly.subplots import make_subplots

    cols = [("cautions", "cautions"), ("incidents", "multi-car incidents"), ("leaders", "leaders"), ("dnf", "DNFs")]
    fig = make_subplots(rows=1, cols=4, subplot_titles=[c[1] for c in cols])
    for k, (col, _) in enumerate(cols):
        vals = skeleton[col].to_numpy()
        fig.add_trace(go.Histogram(x=vals, marker_color=COLORS["model"], showlegend=False, xbins=dict(size=1)), row=1, col=k + 1)
    fig.update_layout(template=TEMPLATE, height=320, margin=dict(l=40, r=20, t=60, b=40), title="Race skeletons")
    return fig
