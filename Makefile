# fluorecon: the one place commands live. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
MVN    := mvn -q -B -f java-plugin/pom.xml
JAR    := java-plugin/target/fluorecon_.jar

.PHONY: setup build dist demo test test-python test-java bench realdata vectors models careamics-package clean

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

bench: setup build
	FLUORECON_BENCH_RESULTS=bench/results $(PY) -m pytest -q -p no:cacheprovider tests/qc/test_report.py tests/qc/test_cross_class.py
	$(PY) bench/predict.py
	$(PY) bench/deconvolve.py
	$(PY) bench/localize.py
	$(PY) bench/superres.py
	$(PY) bench/unmix.py
	$(PY) bench/register.py
	$(PY) bench/lightfield.py
	$(PY) bench/sim.py
	$(PY) bench/denoise.py
	$(PY) bench/streaming.py
	$(PY) bench/ood.py
	$(PY) bench/disagreement.py
	$(PY) scripts/make_bench_tables.py

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
