# The README's two commands: `make run` (the app) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: install run test data-check neo4j screenshots clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m engine.jobs.warm
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: install
	$(VENV)/bin/pytest

data-check: install
	$(VENV)/bin/pitwall data check

# the README's screenshots, from the browser test's pages (real Chromium, real app)
screenshots: install
	$(VENV)/bin/pytest tests/e2e -k edit_optimize -q
	cp test-output/screenshots/3-optimize.png docs/img/app-optimize.png
	cp test-output/screenshots/4-contest.png docs/img/app-contest.png
	cp test-output/screenshots/6-calibration.png docs/img/app-calibration.png

# a real Neo4j 5.26 for development on bolt://127.0.0.1:7687 (auth off); then PITWALL_ONTOLOGY_BACKEND=neo4j
neo4j:
	cd tools/neo4j && test -f target/neo4j-launcher-1.0.jar || mvn -q -B package -DskipTests
	cd tools/neo4j && java -Xmx768m -cp "target/neo4j-launcher-1.0.jar:target/lib/*" pitwall.Neo4jLauncher 7687 ../../.pitwall/neo4j 128

clean:
	rm -rf $(VENV) .pytest_cache test-output build *.egg-info
