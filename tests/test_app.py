"""Every page with AppTest (widgets set through the API), including a run driven to completion."""

import time
import urllib.request
from pathlib import Path

import pytest
from helpers import start_streamlit
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    from engine.core.settings import get_settings

    monkeypatch.setenv("PITWALL_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def wait_for_downloads(at: AppTest) -> None:
    """Rerun the page until the finished run's download buttons show (or 100 s pass)."""
    for _ in range(400):
        time.sleep(0.25)
        at.run()
        if at.get("download_button"):
            return


def load_salary_slate(at: AppTest, file: str = "dk_2026-04-12_race08_bristol.csv", series: str = "cup") -> None:
    if series != "cup":
        at.get("button_group")[0].set_value(series).run()
    at.radio(key="source").set_value("Shipped salary slate").run()
    at.selectbox(key=f"pick_salary_{series}").set_value(file).run()
    at.button[0].click().run()
    assert not at.exception and at.success


def test_first_visit_opens_a_slate_that_can_be_optimized():
    """A newcomer lands on the newest shipped salary slate, so the first Run works."""
    from engine.data.history import salary_manifest

    at = new_app()
    newest = salary_manifest().sort_values("date").index[-1]
    assert at.session_state["slate"].slate_id == newest.removesuffix(".csv")
    assert any("Opened the newest shipped salary slate" in i.value for i in at.info)
    at.switch_page("pages/optimize.py").run()
    at.selectbox(key="opt_scenarios").set_value(1000)
    at.number_input(key="opt_lineups").set_value(2)
    at.button[0].click().run()
    st = None
    for _ in range(400):
        time.sleep(0.25)
        at.run()
        st = at.session_state["run_id"] and at.get("download_button")
        if st:
            break
    assert not at.exception and not at.error and len(at.dataframe[0].value) == 2
    text = Path(APP).read_text()
    assert text.count(":material/") == 6 and not any(ord(c) > 0x2000 for c in text)  # no emoji: Material icons only
    assert 'page_icon=str(Path(__file__).parent / "assets" / "pitwall-icon.png")' in text  # a favicon served offline


def test_pages_without_a_slate_say_what_to_do():
    at = new_app()
    at.session_state["slate"] = None  # the analyst cleared it: the pages say what to do
    at.run()
    assert at.title[0].value == "Slate" and any("Load a race" in i.value for i in at.info)
    for page in ("constraints", "optimize"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and any("Load a race or a salary file" in i.value for i in at.info)
    at.switch_page("pages/scenarios.py").run()
    assert any("Run an optimization" in i.value for i in at.info)


def test_slate_page_loads_races_and_validates_edits():
    at = new_app()
    at.radio(key="source").set_value("Shipped race").run()
    assert any("has its real grid but no salaries" in c.value for c in at.caption)
    at.selectbox(key="pick_season").set_value(2024).run()
    at.selectbox(key="pick_race").set_value("2024-30").run()
    at.button[0].click().run()
    assert "Loaded Cup race 30" in at.success[0].value
    editor = at.session_state["slate"]
    assert editor.slate_id == "2024-30" and editor.drivers[0].start_position == 1
    # a bad edit (through the engine the page calls) is named and leaves the slate as it was
    from engine.core.contracts import ContractError
    from engine.data.slates import apply_table, slate_table

    table = slate_table(editor)
    table.loc[0, "skill"] = 3.0
    with pytest.raises(ContractError, match="driver 'Christopher Bell' \\(row 1\\): skill"):
        apply_table(editor, table)


def test_bad_upload_keeps_the_previous_slate():
    at = new_app()
    load_salary_slate(at)
    before = at.session_state["slate"]
    at.radio(key="source").set_value("Upload a salary file").run()
    assert not at.exception  # the uploader itself cannot be driven by AppTest; the import path is tested in test_salaries
    assert at.session_state["slate"] is before


def test_variants_and_diff():
    at = new_app()
    load_salary_slate(at)
    at.text_input(key="variant_name").set_value("base").run()
    save = next(b for b in at.button if b.label == "Save variant")
    save.click().run()
    assert "base" in at.session_state["variants"]
    s = at.session_state["slate"]
    at.session_state["slate"] = s.model_copy(update={"drivers": [d.model_copy(update={"skill": 0.99}) if i == 0 else d
                                                                 for i, d in enumerate(s.drivers)]})
    at.run()
    diff = at.dataframe[-1].value
    assert list(diff["field"]) == ["skill"] and diff["driver"].iloc[0] == "Kyle Larson"


def test_constraints_page_compiles_and_rejects_bad_rules():
    at = new_app()
    load_salary_slate(at)
    at.switch_page("pages/constraints.py").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "DK lineups of 6 drivers under a $50,000 salary cap" in text
    assert any(i.value.startswith("Ontology: embedded") for i in at.info)
    assert len(at.code[0].value) == 64
    before = at.code[0].value
    from engine.core.contracts import Rule

    at.session_state["rules"] = [Rule(rule_id="lock-larson", kind="lock", drivers=["kyle-larson"])]
    at.run()
    assert "lock Kyle Larson (lock-larson)" in "\n".join(m.value for m in at.markdown) and at.code[0].value != before
    at.session_state["rules"] = [Rule(rule_id="a", kind="lock", drivers=["kyle-larson"]),
                                 Rule(rule_id="b", kind="exclude", drivers=["kyle-larson"])]
    at.run()
    assert not at.exception and "Kyle Larson is locked (rule 'a') and excluded (rule 'b')" in at.error[0].value


def test_rule_table_errors_named():
    import pandas as pd

    from engine.core.contracts import ContractError
    from engine.dfs.constraints import rules_from_table

    df = pd.DataFrame([{"rule_id": "x", "kind": "group", "drivers": "kyle-larson"},
                       {"rule_id": "y", "kind": "max_per_team", "k": 2}, {"rule_id": "y", "kind": "lock", "drivers": "ty-gibbs"}])
    with pytest.raises(ContractError) as exc:
        rules_from_table(df)
    assert "rule row 1 (x): rule 'x' (group) needs min or max" in str(exc.value)
    assert "rule id 'y' is used more than once" in str(exc.value)


def test_optimize_run_to_completion_and_other_pages():
    at = new_app()
    load_salary_slate(at)
    at.switch_page("pages/optimize.py").run()
    at.selectbox(key="opt_scenarios").set_value(1000)
    at.number_input(key="opt_lineups").set_value(3)
    at.button[0].click().run()
    run_id = at.session_state["run_id"]
    wait_for_downloads(at)
    assert not at.exception and not at.error
    lineups = at.dataframe[0].value
    assert len(lineups) == 3 and lineups["salary"].max() <= 50000
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download DraftKings upload CSV" in labels
    # the same inputs again reuse the completed run
    at.button[0].click().run()
    assert at.session_state["run_id"] == run_id
    at.switch_page("pages/scenarios.py").run()
    assert not at.exception and at.metric[0].value == "1,000"
    at.switch_page("pages/calibration.py").run()
    assert not at.exception and any("144 races" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 5 and len(at.dataframe[1].value) == 8  # 4 seasons + pooled; all + 7 types


def test_contest_page_runs_a_contest_to_completion():
    at = new_app()
    load_salary_slate(at)
    at.switch_page("pages/contest.py").run()
    assert not at.exception and any("field model: an ASSUMPTION" in c.value for c in at.caption)
    assert any(s.value == "Real contests (DraftKings standings)" for s in at.subheader)
    at.number_input(key="ct_size").set_value(300)
    at.number_input(key="ct_lineups").set_value(2)
    at.selectbox(key="ct_scenarios").set_value(1000)
    at.button[0].click().run()
    wait_for_downloads(at)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 2 and {"roi", "win_pct", "cash_pct", "avg_duplicates"} <= set(table.columns)
    assert [m.label for m in at.metric][:3] == ["Expected profit", "ROI", "Any cash"]
    assert {"Field strength", "Without the tilt", "ROI against the untilted field"} <= {m.label for m in at.metric}
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download DraftKings upload CSV" in labels and "Download contest (JSON)" in labels


def test_contest_page_imports_and_reviews_standings():
    """A DraftKings standings file (the fixture, on the Bristol DK slate) imported and reviewed on the page."""
    at = new_app()
    load_salary_slate(at)
    at.switch_page("pages/contest.py").run()
    fixture = Path(__file__).resolve().parent / "fixtures" / "contest-standings-900000100.csv"
    from engine.dfs.contest.standings import contest_id_of, read_standings

    # the uploader cannot be driven by AppTest: import as the page does, then the page lists, fits and reviews it
    from engine.core.settings import get_settings
    from engine.dfs.contest.review import simulated_points
    from engine.dfs.contest.standings import save_standings

    s = at.session_state["slate"]
    text = fixture.read_bytes().decode()
    save_standings(read_standings(text, s, fixture.name, contest_id_of(fixture.name, text)), get_settings().state_dir,
                   simulated_points(s).mean(axis=0))
    at.run()
    assert not at.exception and at.dataframe[-1].value["contest_id"].tolist() == ["900000100"]
    at.text_input(key="ct_review_user").set_value("whale1")
    next(b for b in at.button if b.label == "Review").click().run()
    assert not at.exception and not at.error
    assert any("Ownership projected before the race against actual" in c.value for c in at.caption)
    assert any("ROI against the real field" in c.value or "against the real field" in c.value for c in at.caption)


def test_series_selector_loads_an_nxs_slate_and_every_page_shows_it():
    at = new_app()
    load_salary_slate(at, "dk_2026-04-11_nxs_bristol.csv", "nxs")
    s = at.session_state["slate"]
    assert s.series.value == "nxs" and s.race_name == "Suburban Propane 300"
    assert any("NXS" in m.value for m in at.markdown if hasattr(m, "value")) or any("NXS" in h.value for h in at.subheader)
    for page in ("pages/constraints.py", "pages/optimize.py", "pages/contest.py"):
        at.switch_page(page).run()
        assert not at.exception and any("**NXS** · O'Reilly Auto Parts Series" in c.value for c in at.caption), page
    at.switch_page("pages/slate.py").run()
    at.get("button_group")[0].set_value("truck").run()
    at.radio(key="source").set_value("Shipped race").run()
    at.selectbox(key="pick_season").set_value(2025).run()
    at.selectbox(key="pick_race").set_value("2025-6").run()
    at.button[0].click().run()
    assert not at.exception and at.session_state["slate"].series.value == "truck"


def test_calibration_state_in_query_params():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["seasons"] = "2024"
    at.query_params["track_type"] = "road"
    at.query_params["seed"] = "3"
    at.switch_page("pages/calibration.py").run()
    assert not at.exception
    assert at.text_input[0].value == "2024" and at.selectbox[0].value == "road" and at.number_input[0].value == 3
    assert any(b.label == "Run backtest" for b in at.button)


def test_streamlit_serves_the_app(tmp_path):
    """`make run` starts this: a real Streamlit server answering on its port."""
    proc, url = start_streamlit(tmp_path)
    try:
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        proc.terminate()
        proc.wait(10)
