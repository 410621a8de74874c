import json

import numpy as np
import pytest

from engine.core.contracts import Rule
from engine.data.slates import build_slate, shipped_salary_slate
from engine.dfs.constraints import ConstraintCompiler, SpecError, describe_rule, describe_spec
from engine.dfs.ontology.embedded import EmbeddedOntology
from engine.model.field import prepare
from engine.model.scenarios import simulate

BRISTOL = "dk_2026-04-12_race08_bristol.csv"


@pytest.fixture(scope="module")
def compiler():
    return ConstraintCompiler(EmbeddedOntology())


@pytest.fixture(scope="module")
def bristol(history):
    return shipped_salary_slate(BRISTOL, history)


def names(spec_or_err):
    return str(spec_or_err)


def test_ontology_rule_compiles_when_the_track_matches(compiler, history):
    talladega = compiler.compile(build_slate("2024-10", history), "dk")
    assert [s.rule_id for s in talladega.start_min] == ["superspeedway-place-differential"]
    assert talladega.start_min[0].k == 3 and talladega.start_min[0].position == 20
    assert talladega.rules_applied[0].source == "ontology"
    bristol = compiler.compile(build_slate("2024-29", history), "dk")  # Bristol night race
    assert bristol.track_type == "short" and bristol.start_min == [] and bristol.rules_applied == []


def test_site_settings_and_cap(compiler, bristol):
    dk = compiler.compile(bristol, "dk")
    fd = compiler.compile(bristol, "fd", salary_cap=60000)
    assert (dk.roster_size, dk.salary_cap, fd.roster_size, fd.salary_cap) == (6, 50000, 5, 60000)
    assert dk.spec_hash != fd.spec_hash


def test_ontology_fills_teams_of_a_salary_slate(compiler, bristol):
    spec = compiler.compile(bristol, "dk")
    assert spec.driver("kyle-larson").team == "Hendrick Motorsports"
    assert spec.driver("kyle-larson").manufacturer == "Chevrolet"
    assert spec.driver("connor-zilisch").team == "Trackhouse Racing"  # from his 2025 Cup starts, the latest season
    assert any("from the ontology" in n for n in spec.notes)
    assert all(d.start_estimated for d in spec.drivers)
    assert sorted(d.start_position for d in spec.drivers) == list(range(1, 38))


def test_analyst_rules_and_plain_words(compiler, bristol):
    rules = [
        Rule(rule_id="no-stack", kind="max_per_team", k=2, description="at most two teammates"),
        Rule(rule_id="fords", kind="max_per_manufacturer", manufacturer="Ford", k=3),
        Rule(rule_id="lock-larson", kind="lock", drivers=["kyle-larson"]),
        Rule(rule_id="fade-chastain", kind="exclude", drivers=["ross-chastain"]),
        Rule(rule_id="jgr", kind="group", drivers=["denny-hamlin", "christopher-bell", "ty-gibbs", "chase-briscoe"], max=2),
        Rule(rule_id="blaney-exp", kind="exposure", drivers=["ryan-blaney"], min=0.2, max=0.5),
        Rule(rule_id="dominator", kind="laps_led", drivers=["denny-hamlin"], min=100),
        Rule(rule_id="deep", kind="min_starting_behind", k=1, position=25),
        Rule(rule_id="fd-only", kind="lock", drivers=["ty-gibbs"], site="fd"),
        Rule(rule_id="ss-only", kind="lock", drivers=["ty-gibbs"], track_type="superspeedway"),
    ]
    spec = compiler.compile(bristol, "dk", rules)
    assert spec.locks == {"kyle-larson": "lock-larson"} and spec.excludes == {"ross-chastain": "fade-chastain"}
    assert spec.team_max[0].key == "*" and spec.manufacturer_max[0].key == "Ford"
    assert spec.groups[0].max == 2 and len(spec.groups[0].drivers) == 4
    assert (spec.driver("ryan-blaney").min_exposure, spec.driver("ryan-blaney").max_exposure) == (0.2, 0.5)
    assert spec.laps_led["denny-hamlin"].min == 100 and spec.laps_led["denny-hamlin"].rule_id == "dominator"
    assert {r.rule_id for r in spec.rules_applied} == {"no-stack", "fords", "lock-larson", "fade-chastain", "jgr", "blaney-exp", "dominator", "deep"}
    words = "\n".join(describe_spec(spec))
    for phrase in ("DK lineups of 6 drivers under a $50,000 salary cap", "lock Kyle Larson (lock-larson)", "exclude Ross Chastain",
                   "at most 2 drivers of any one team (no-stack)", "at most 3 drivers of Ford (fords)",
                   "at least 1 drivers starting 25th or worse (deep)", "Ryan Blaney in 20% to 50% of lineups",
                   "Denny Hamlin leads 100 to any number of laps in every simulated race (dominator)"):
        assert phrase in words, phrase
    assert describe_rule(rules[-1]) == "lock ty-gibbs at superspeedway tracks"


def test_canonical_json_and_hash(compiler, bristol):
    a = compiler.compile(bristol, "dk")
    b = compiler.compile(bristol, "dk")
    assert a.canonical_json() == b.canonical_json() and a.spec_hash == b.spec_hash
    data = json.loads(a.canonical_json())
    assert list(data) == sorted(data) and " " not in a.canonical_json().replace(" (", "(")[:50]
    assert [d["driver_id"] for d in data["drivers"]] == sorted(d["driver_id"] for d in data["drivers"])
    edited = bristol.model_copy(update={"drivers": [d.model_copy(update={"salary": d.salary + 100}) if i == 0 else d
                                                     for i, d in enumerate(bristol.drivers)]})
    assert compiler.compile(edited, "dk").spec_hash != a.spec_hash
    shuffled = bristol.model_copy(update={"drivers": list(reversed(bristol.drivers))})
    assert compiler.compile(shuffled, "dk").spec_hash == a.spec_hash  # order of the table does not matter


def lock(*ids, rid="locks"):
    return Rule(rule_id=rid, kind="lock", drivers=list(ids))


@pytest.mark.parametrize(
    "rules,message",
    [
        ([lock("kyle-larson", "denny-hamlin", "ryan-blaney", "christopher-bell", "william-byron")],
         "locks Kyle Larson ($11,500) + Denny Hamlin ($11,000) + Ryan Blaney ($10,700) + Christopher Bell ($10,500) + "
         "William Byron ($10,000) exceed the cap of $50,000 by $3,700 (rules locks)"),
        ([lock("kyle-larson", "denny-hamlin", "ryan-blaney", "christopher-bell")],
         "leave $6,300 for 2 more drivers; the cheapest 2 cost $9,200 (rules locks)"),
        ([lock("cody-ware", "chad-finchum", "riley-herbst", "ty-dillon", "cole-custer", "todd-gilliland", "ricky-stenhouse")],
         "7 locks (Chad Finchum (locks), Cody Ware (locks), Cole Custer (locks), Ricky Stenhouse Jr. (locks), Riley Herbst (locks), Todd Gilliland (locks), Ty Dillon (locks)) for 6 roster spots"),
        ([Rule(rule_id="big-group", kind="group", drivers=["kyle-larson", "denny-hamlin"], min=3)],
         "rule 'big-group' asks at least 3 of 2 drivers on this slate"),
        ([lock("kyle-larson"), Rule(rule_id="fade", kind="exclude", drivers=["kyle-larson"])],
         "Kyle Larson is locked (rule 'locks') and excluded (rule 'fade')"),
        ([lock("denny-hamlin", "christopher-bell"), Rule(rule_id="one-per-team", kind="max_per_team", k=1)],
         "rule 'one-per-team' allows at most 1 driver(s) per team, but locks Christopher Bell, Denny Hamlin are all Joe Gibbs Racing"),
        ([Rule(rule_id=f"e{i}", kind="exposure", drivers=[d], min=0.9) for i, d in enumerate(
            ["kyle-larson", "denny-hamlin", "ryan-blaney", "christopher-bell", "william-byron", "chase-elliott", "ty-gibbs", "joey-logano"])],
         "minimum exposures add to 7.2 drivers per lineup, more than 6 roster spots"),
        ([Rule(rule_id="lead-a", kind="laps_led", drivers=["kyle-larson"], min=300),
          Rule(rule_id="lead-b", kind="laps_led", drivers=["denny-hamlin"], min=250)],
         "minimum laps led add up to 550 (Denny Hamlin 250 + Kyle Larson 300), more than the 500 race laps (rules lead-a, lead-b)"),
        ([Rule(rule_id="deep", kind="min_starting_behind", k=7, position=30)],
         "rule 'deep' asks 7 drivers starting 30th or worse, more than the 6 roster spots"),
        ([lock("nobody-here")], "rule 'locks' names driver(s) not on this slate: nobody-here"),
    ],
)
def test_infeasible_rules_named(compiler, bristol, rules, message):
    with pytest.raises(SpecError) as exc:
        compiler.compile(bristol, "dk", rules)
    assert message in str(exc.value), str(exc.value)


def test_duplicate_rule_ids_refused(compiler, history):
    clash = Rule(rule_id="superspeedway-place-differential", kind="max_per_team", k=2)
    with pytest.raises(SpecError, match="used twice"):
        compiler.compile(build_slate("2024-10", history), "dk", [clash])


def test_the_simulator_obeys_the_spec(compiler, history):
    slate = build_slate("2024-30", history)
    spec = compiler.compile(slate, "dk", [Rule(rule_id="lead", kind="laps_led", drivers=["kyle-larson"], min=30, max=120)])
    inputs = prepare(slate, spec=spec)
    sims = simulate(inputs, 4000, 2)
    i = inputs.driver_ids.index("kyle-larson")
    led = sims.laps_led[sims.valid, i]
    assert sims.n_valid > 0 and led.min() >= 30 and led.max() <= 120
    assert sims.rejections["min_laps_led"] + sims.rejections["max_laps_led"] >= sims.n - sims.n_valid
    assert np.array_equal(inputs.start, [spec.driver(x).start_position for x in inputs.driver_ids])
