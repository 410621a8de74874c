"""UI pieces shared by the pages: cached engine resources, session state, error display.

Logic lives in engine; this module only wires it to Streamlit."""

from __future__ import annotations

import uuid

import streamlit as st

from engine.core.contracts import ContractError, Rule, Slate
from engine.core.series import SERIES, SERIES_NAMES, SHORT_NAMES
from engine.core.settings import get_settings
from engine.data.history import History
from engine.dfs.ontology import open_with_fallback
from engine.jobs.runner import JobRunner, make_runner
from engine.jobs.store import FINISHED

SITES = {"dk": "DraftKings", "fd": "FanDuel"}
SERIES_LABELS = {code: f"{SHORT_NAMES[code]}" for code in SERIES}


def current_series() -> str:
    """The series the analyst works on: the loaded slate's, else the Slate page's selector (default the Cup)."""
    s = st.session_state.get("slate")
    return s.series.value if s is not None else st.session_state.get("series", "cup")


def history(series: str | None = None) -> History:
    """A series' shipped plus added races (default: the current series); reloaded when `pitwall
    data add` changes that series' store."""
    from engine.core.series import series_state_dir
    from engine.data.store import SeasonStore

    series = series or current_series()
    return _history(series, SeasonStore(series_state_dir(get_settings().state_dir, series)).version())


@st.cache_resource(show_spinner="Loading the race history...", max_entries=6)
def _history(series: str, store_version: str) -> History:
    return History.load(series=series)


def series_caption(s: Slate | None = None) -> None:
    """The series on every page: the slate's (or the current one), full name and race."""
    code = s.series.value if s is not None else current_series()
    race = f" · {s.race_name or s.slate_id}" + (f" ({s.date})" if s.date else "") if s is not None else ""
    st.caption(f"**{SHORT_NAMES[code]}** · {SERIES_NAMES[code]}{race}")


@st.cache_resource
def runner() -> JobRunner:
    """One job runner per server process; its work runs on the Dask workers, which never call st.*"""
    return make_runner(get_settings())


@st.cache_resource(ttl=60, show_spinner=False)
def ontology():
    """(repository, notice): the configured ontology, or the embedded one with the reason."""
    return open_with_fallback()


def owner() -> str:
    """This browser session's id: it sees its own jobs only (or one whose run id it is given)."""
    return st.session_state.setdefault("owner", str(uuid.uuid4()))


def slate() -> Slate | None:
    return st.session_state.get("slate")


def set_slate(s: Slate) -> None:
    st.session_state["slate"] = s
    st.session_state["table_version"] = st.session_state.get("table_version", 0) + 1


def require_slate() -> Slate:
    s = slate()
    if s is None:
        st.info("Load a race or a salary file on the **Slate** page first.")
        st.stop()
    series_caption(s)
    return s


def analyst_rules() -> list[Rule]:
    return st.session_state.setdefault("rules", [])


def lineup_frame(lineups: list[dict]):
    """Lineups as a table with one column per driver (a joined list of names gets cut)."""
    import pandas as pd

    rows = []
    for k, r in enumerate(lineups):
        row = {"#": r.get("lineup", k + 1)}
        row.update({f"D{j + 1}": name for j, name in enumerate(r["drivers"])})
        row.update({c: v for c, v in r.items() if c not in ("lineup", "drivers", "driver_ids")})
        rows.append(row)
    return pd.DataFrame(rows)


def show_error(exc: Exception, title: str = "That did not work") -> None:
    """An error as a message (never a traceback): one bullet per problem."""
    messages = getattr(exc, "messages", None) or getattr(exc, "problems", None) or [str(exc)]
    st.error(f"**{title}**\n\n" + "\n".join(f"- {m}" for m in messages))


def guard(body, title: str = "Something went wrong") -> None:
    """Run a page body; any error becomes a message."""
    try:
        body()
    except ContractError as exc:
        show_error(exc, "Invalid values")
    except Exception as exc:  # noqa: BLE001 - the user sees a message, not a traceback
        show_error(exc, title)


def cluster_caption() -> None:
    """Where the runs go: the Dask cluster, its workers and dashboard (or why it is not there)."""
    info = runner().cluster.info() if runner().cluster is not None else None
    if not info:
        return
    if info.get("error"):
        st.warning(f"Runs cannot start: {info['error']}")
        return
    where = "local Dask cluster" if info["local"] else "Dask cluster"
    if not info["ready"]:
        st.caption(f"Runs go to the {where} (starting).")
        return
    workers = f", {info['workers']} worker(s)" if "workers" in info else ""
    dash = f" · [dashboard]({info['dashboard']})" if info.get("dashboard") else ""
    st.caption(f"Runs go to the {where} at {info['scheduler']}{workers}{dash}.")


def ontology_notice():
    """The ontology repository, after showing why it is the embedded one when Neo4j failed."""
    repo, notice = ontology()
    if notice:
        st.warning(notice)
    return repo


def job_progress(key: str, kind: str, label: str) -> None:
    """Progress and cancel of the run whose id is in session state ``key`` (call it inside an
    st.fragment that reruns every half second); once the run ends, the whole page reruns once."""
    run_id = st.session_state.get(key)
    if not run_id:
        return
    status = runner().status(run_id, kind)
    if status is None:
        st.error(f"Run {run_id} is unknown.")
        return
    if status["status"] in FINISHED:
        if st.session_state.get(f"{key}_shown") != (run_id, status["status"]):
            st.session_state[f"{key}_shown"] = (run_id, status["status"])
            st.rerun(scope="app")
        return
    c1, c2 = st.columns([5, 1])
    text = f"{label} {run_id[:8]}: {status['status']} {100 * status['progress']:.0f}%"
    if status["progress"] == 0:
        info = runner().cluster.info() if runner().cluster is not None else {}
        text += (" (the Dask cluster is starting: the first run waits a few seconds for it)" if not info.get("ready")
                 else " (waiting for a Dask worker)" if status["status"] == "pending" else " (starting)")
    c1.progress(status["progress"], text=text)
    if c2.button("Cancel", key=f"cancel_{run_id}"):
        runner().cancel(run_id)


def titled(fig, series: str | None = None):
    """A chart whose title names the series ("NXS: Exposures of 20 lineups")."""
    label = SHORT_NAMES[series or current_series()]
    text = fig.layout.title.text or ""
    return fig if text.startswith(f"{label}:") else fig.update_layout(title=f"{label}: {text}")
