"""Constraints: the compiled ConstraintSpec in plain words, its hash, the ontology in use,
and the analyst's rules."""

import streamlit as st

from engine.core.contracts import ContractError, RuleKind
from engine.core.series import SERIES
from engine.dfs.constraints import (
    ConstraintCompiler,
    describe_rule,
    describe_spec,
    rules_from_table,
    rules_table,
)
from pages._shared import (
    SITES,
    analyst_rules,
    guard,
    history,
    ontology_notice,
    require_slate,
    show_error,
)

st.title("Constraints")
def page() -> None:
    s = require_slate()
    repo = ontology_notice()
    if repo.backend == "neo4j":
        try:
            st.success(f"Ontology: Neo4j {repo.ping()} at {repo.uri} (connected)")
        except Exception as exc:  # noqa: BLE001
            st.error(f"Ontology: {exc}")
    else:
        st.info(f"Ontology: {repo.describe()}")
    if s.site:
        site = s.site.value
        st.caption(f"Site: {SITES[site]} (the loaded salary file's)")
    else:
        site = st.radio("Site", list(SITES), format_func=SITES.get, horizontal=True, key="site")

    st.subheader("Analyst rules")
    st.caption("Kinds: " + ", ".join(k.value for k in RuleKind) + ". Drivers are driver ids, comma separated "
               "(e.g. kyle-larson). Series, track type and site limit where a rule applies.")
    edited = st.data_editor(
        rules_table(analyst_rules()), num_rows="dynamic", hide_index=True, width="stretch", key="rules_editor",
        column_config={
            "kind": st.column_config.SelectboxColumn("kind", options=[k.value for k in RuleKind]),
            "series": st.column_config.SelectboxColumn("series", options=list(SERIES)),
            "site": st.column_config.SelectboxColumn("site", options=list(SITES)),
            "track_type": st.column_config.SelectboxColumn("track type", options=sorted(history().index["track_type"].unique())),
            "enabled": st.column_config.CheckboxColumn("on", default=True),
        },
    )
    try:
        st.session_state["rules"] = rules_from_table(edited)
    except ContractError as exc:
        show_error(exc, "Rules not applied (the last valid rules stay in force)")
    st.subheader("Ontology rules")
    for r in repo.rules():
        st.markdown(f"- `{r.rule_id}` {'(on)' if r.enabled else '(off)'}: {describe_rule(r)}")

    st.subheader("Compiled constraint spec")
    spec = ConstraintCompiler(repo).compile(s, site, analyst_rules())
    st.session_state["spec_hash"] = spec.spec_hash
    for line in describe_spec(spec):
        st.markdown(f"- {line}")
    st.code(spec.spec_hash, language=None)
    st.caption("constraint_spec_hash: sha256 of the spec's canonical JSON")
    with st.expander("Canonical JSON"):
        st.code(spec.canonical_json(), language="json")


guard(page, "The constraints cannot be compiled")
