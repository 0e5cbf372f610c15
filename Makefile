# fluorecon: the one place commands live. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
MVN    := mvn -q -B -f java-plugin/pom.xml
JAR    := java-plugin/target/fluorecon_.jar

.PHONY: setup build dist demo test test-python test-java bench bench-full bench-agreement realdata vectors models careamics-package clean

setup: $(VENV)/.installed system-deps

# The Python package and its test tools, into a project venv (pip's cache keeps torch between runs).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

# Xvfb runs ImageJ's macro path where plain ImageJ1 cannot start headless (DESIGN.md, "The plugin").
system-deps:
	@command -v xvfb-run >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth >/dev/null; \
	  else echo "xvfb-run is missing: sudo apt-get install xvfb (needed by the macro tests and the demo)"; exit 1; fi; }

# The Fiji/ImageJ plugin jar (+ ONNX Runtime jar in java-plugin/target/deps). Maven is the build CI runs.
build: $(JAR)

$(JAR): $(shell find java-plugin/src -type f 2>/dev/null) java-plugin/pom.xml
	$(MVN) -DskipTests package

# The Fiji update site (dist/update-site/: db.xml.gz + files), the Fiji.app tree (dist/fiji/: plugins/, jars/ with
# per-platform ONNX Runtime natives, models/fluorecon/, lib/fluorecon/*.whl), dist/fluorecon-fiji.zip, dist/python/*.whl.
dist: setup build
	$(PY) scripts/make_dist.py

demo: setup build
	$(PY) scripts/demo.py

test: setup build test-java test-python

test-java:
	$(MVN) test

test-python:
	$(PY) -m pytest -q tests

# Every bench, with the bounded options its committed results come from (about an hour on the shared 2 cores; each
# peer's venv under bench/venvs/ is made on first use, fairSIM by bench/build_fairsim.sh). The issue-size runs that
# take hours here (a 20 GB streamed volume, RL at every size, 30-min training budgets) are `make bench-full`.
# A second run into another folder (`make bench BENCH_RESULTS=bench/results/rerun`) and `make bench-agreement`
# compare the two runs' verdicts key by key (bench/results/agreement.md).
BENCH_RESULTS ?= bench/results
BENCH_RUN := FLUORECON_BENCH_RESULTS=$(BENCH_RESULTS) $(PY)
STREAMING_WHY := a 20 GB volume takes hours on 2 shared cores (the estimate below); make bench-full runs it
bench: setup build
	mkdir -p $(BENCH_RESULTS)
	$(BENCH_RUN) -m pytest -q -p no:cacheprovider tests/qc/test_report.py tests/qc/test_cross_class.py
	$(BENCH_RUN) bench/predict.py
	$(BENCH_RUN) bench/deconvolve.py --cases 2048:15,31,63 4096:31 64x256x256:15,31 128x512x512:15 --iterations 3
	$(BENCH_RUN) bench/localize.py --frames 100 --plugin-frames 0
	$(BENCH_RUN) bench/superres.py
	$(BENCH_RUN) bench/unmix.py
	$(BENCH_RUN) bench/register.py
	$(BENCH_RUN) bench/lightfield.py
	$(BENCH_RUN) bench/sim.py
	$(BENCH_RUN) bench/denoise.py --dims 3 2 --speed-dims 3 --budget-min 0 --converge-min 1.5 --converge-filters 16 \
	  --converge-patch 32 --converge-batch 8 --converge-patch-3d 8 32 --converge-batch-3d 2
	$(BENCH_RUN) bench/streaming.py --gb 0.25 --fit-gb 0.025 --rl-gb 0.025 --rounds 3 --why "$(STREAMING_WHY)"
	$(BENCH_RUN) bench/ood.py
	$(BENCH_RUN) bench/disagreement.py
	test "$(BENCH_RESULTS)" != bench/results || $(PY) scripts/make_bench_tables.py

bench-full: setup build
	mkdir -p $(BENCH_RESULTS)
	$(BENCH_RUN) bench/deconvolve.py
	$(BENCH_RUN) bench/denoise.py --budget-min 30
	$(BENCH_RUN) bench/streaming.py --gb 20

bench-agreement: setup
	$(PY) scripts/compare_bench_runs.py bench/results bench/results/rerun

# Shipped models vs the strongest classical methods + QC on public real data (data/realdata/, committed
# with provenance in data/realdata/SOURCES.md); writes bench/results/realdata.json and docs/realdata/*.png.
# Not part of `make test` (~40 min on a shared 2-core machine, most of it N2V training).
realdata: setup
	$(PY) bench/realdata.py

# Regenerate tests/vectors/ (committed; Python and Java tests both read them).
vectors: setup
	$(PY) scripts/make_vectors.py

# Retrain the small models shipped in models/ (minutes on CPU).
models: setup
	$(PY) scripts/train_shipped_models.py
	$(PY) scripts/train_deconv_model.py
	$(PY) scripts/train_superres_models.py
	$(PY) scripts/train_smlm_models.py
	$(PY) scripts/train_lightfield_model.py
	$(PY) scripts/train_sim_models.py
	$(VENV)/bin/fluorecon train unmix --out models/unmix_4label.onnx --steps 700
	$(VENV)/bin/fluorecon train register --out models/register_deform_2d.onnx --steps 700

# Regenerate tests/data/careamics_n2v/ (committed): a tiny N2V trained and exported to bioimage.io by CAREamics, in
# its own venv bench/venvs/careamics (made here from bench/requirements-careamics.txt; minutes, torch from pip's cache).
# Optional: `make test` reads the committed files and never needs this venv.
careamics-package:
	test -x bench/venvs/careamics/bin/python || $(PYTHON) -m venv bench/venvs/careamics
	bench/venvs/careamics/bin/python -m pip install -q -r bench/requirements-careamics.txt
	bench/venvs/careamics/bin/python scripts/make_careamics_package.py

clean:
	rm -rf $(VENV) java-plugin/target imagej out
