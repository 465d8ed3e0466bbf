# 《基于大数据的{year}年社交电商裂变营销策略与用户增长洞察报告》
#   make report   build the whole report (installs what it needs on first use)
#   make test     run the tests
PARAMS ?= params/default.yaml
VENV   := .venv
BIN    := $(VENV)/bin
FISSION = $(BIN)/fission --params $(PARAMS)

.PHONY: setup data run report html pdf lab test bench clean

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

lab: setup
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[lab]'
	$(BIN)/jupyter lab notebooks/

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf report/_build report/_output
