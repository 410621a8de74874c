"""dfs: from simulated races to DFS decisions. The ontology (drivers, teams, tracks, rules; embedded
or Neo4j), the constraint compiler, lineups (the MILP, objectives, portfolios, optimal%), the
contest simulator and the sites' upload files.

May import: engine.core, engine.data, engine.model."""
