# Two commands do all the set-up (see README.md):
#   make run    -> installs into .venv if needed, then `faceaudit run` on the embedded default
#   make test   -> installs into .venv if needed, then the whole test suite (what CI runs)
#
# TORCH_SPEC pins the CPU build of torch that lies on this kind of machine's
# disk; an unpinned torch would download a CUDA build of several GB. On a GPU
# machine install your CUDA torch first and use `pip install -e .` directly,
# or run `make TORCH_SPEC= run`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.faceaudit-installed

.PHONY: install run test lint bench selftest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# A verdict is a result, not a failure of `make`: FAIL (exit 1) and INSUFFICIENT EVIDENCE (exit 2)
# end `make run` successfully after saying what the code means. Usage (3) and runtime (4) errors
# still fail the target. CI should call `faceaudit run` or `faceaudit gate` directly for the code.
run: $(STAMP)
	@$(BIN)/faceaudit run $(ARGS); code=$$?; \
	case $$code in \
	  0) echo "make run: faceaudit run exited 0 (verdict PASS).";; \
	  1) echo "make run: faceaudit run exited 1: the audit finished and its verdict is FAIL (see report.html above). CI gates on this code; make does not treat it as an error.";; \
	  2) echo "make run: faceaudit run exited 2: the audit finished and its verdict is INSUFFICIENT EVIDENCE (see report.html above). CI gates on this code; make does not treat it as an error.";; \
	  *) echo "make run: faceaudit run failed with exit code $$code (3: usage error, 4: runtime error)." >&2; exit $$code;; \
	esac

test: $(STAMP)
	bash .ci/install-browser.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check faceaudit tests benchmarks

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

selftest: $(STAMP)
	$(BIN)/faceaudit selftest --seeds 200 --write docs/selftest.md

clean:
	rm -rf $(VENV) runs test-artifacts .pytest_cache
