# 《基于大数据的{year}年社交电商裂变营销策略与用户增长洞察报告》
#   make report   build the whole report (installs what it needs on first use)
#   make test     run the tests
PARAMS ?= params/default.yaml
VENV   := .venv
BIN    := $(VENV)/bin
FISSION = $(BIN)/fission --params $(PARAMS)

.PHONY: setup setup-spark data run report html pdf lab test bench clean

setup:
	@scripts/setup.sh

data: setup
	$(FISSION) data

run: setup
	$(FISSION) data
	$(FISSION) run $(if $(CHAPTERS),--chapters $(CHAPTERS))

report: setup
	$(FISSION) report

html pdf: setup
	$(FISSION) render

# the Spark engine (-p engine.kind=spark, docs/scaling.md): pyspark, and Java 17 on the machine
setup-spark: setup
	@command -v java >/dev/null || { echo "setup-spark: Java 17 is needed (e.g. apt-get install -y openjdk-17-jre-headless)" >&2; exit 1; }
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[spark]'

lab: setup
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[lab]'
	$(BIN)/jupyter lab notebooks/

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf report/_build report/_output
