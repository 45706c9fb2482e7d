# The README's commands. Each works as the first command typed on a fresh machine.
#   make demo     set up .venv, run a real 3-seed demo sweep locally, collect it, print where the figure is
#   make test     set up .venv, start the local Slurm test cluster, run the whole test suite
#   make install  set up .venv only
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pins the CPU torch wheel on this machine kind's disk (no multi-GB CUDA download). Users keep their own torch.
CONSTRAINTS ?= constraints.txt
DEMO_DIR ?= demo_sweeps/demo_$(shell date +%Y%m%d_%H%M%S)
export GIT_PYTHON_REFRESH := quiet

.PHONY: install demo test lint slurm-start slurm-stop

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[demo,dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/hpc-sweep submit --task Demo-PointMass-v0 --seeds 1 2 3 --max_iterations 60 --num_envs 256 \
		--common_folder demo --executor local --output_dir $(DEMO_DIR)
	@echo "figure: $(DEMO_DIR)/training_analysis.png"
	@echo "results: $(DEMO_DIR)/training_results.json"

test: install slurm-start
	$(BIN)/python -m pytest -ra

# The one-node Slurm cluster the tests submit to (installs Debian packages when missing; quick when already up).
slurm-start:
	bash tests/slurm/local_cluster.sh start

slurm-stop:
	bash tests/slurm/local_cluster.sh stop

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
