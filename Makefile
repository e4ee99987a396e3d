# Makefile - thin entry points; the work is in CMake (build/), tools/ and bench/.
#   make deps    install every Debian package (and the npm vocabulary) the rest needs
#   make build   RelWithDebInfo build in build/ (build/poisonscan); on a machine without the
#                build dependencies it stops at once with one line naming `make deps`
#   make test    format check, then ctest in build/, build-asan/ (ASan+UBSan) and build/ (scalar)
#   make demo    scan a generated 64-shard corpus with 300 planted <SUDO> poisons
#   make bench   worker throughput against zstd -dc on >= 1 GB of JSONL; the coordinator's
#                leases per second to 1,000 simulated workers and time to plan 100,000 shards;
#                the whole job through the CLI (time, Redis peak and traffic per GB) on the
#                bench corpus and on the accuracy bases already generated (accuracy-data-*/base)
#   make bench-accuracy  detection accuracy: 20 planted attacks x 50/100/250/500 documents and
#                the hard negatives in a real-text base (BASE_MB=200 for the large base), then
#                make bench-detect2
#   make bench-detect2   benchmark v2 (issue 13): 15 attacks x 50/100/250 documents on the tuning
#                half of three bases (documentation, web pages, multilingual); HALF=heldback
#                for the final table only (docs/benchmark-v2.md); GENERATOR=v1
#                plants the 20 attacks of gen_accuracy.py in the same bases instead
#   make bench-finetune  issue 14: BackdoorLLM's real poisoned sets (sst2, jailbreak) x 5 attacks
#                x 100/250 records x records/text/chat, in their clean counterparts and real text
#   make docker-check    deploy/docker/Dockerfile's steps in a debootstrap'ed Debian 12 root,
#                then make demo's scan with the image's binary (no Docker engine needed)
.POSIX:
.PHONY: all deps build build-asan format-check test demo bench bench-accuracy bench-detect2 \
	bench-finetune fuzz docker-check clean

PYTHON ?= python3
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
BASE_MB ?= 50
HALF ?= tune
GENERATOR ?= v2

all: build

deps:
	sh tools/deps.sh

build:
	@sh tools/deps.sh check
	cmake -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build build -j$(JOBS)

build-asan:
	@sh tools/deps.sh check
	cmake -S . -B build-asan -DPS_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j$(JOBS)

# every *.c/*.h of the project; build dirs, generated data and node_modules are not ours to format
format-check:
	find . \( -type d \( -name 'build*' -o -name .git -o -name node_modules -o -name 'demo-*' \
	  -o -name bench-data \) -prune \) -o -type f \( -name '*.c' -o -name '*.h' \) -print \
	  | sort | xargs -r clang-format --dry-run --Werror

test: deps
	$(MAKE) format-check
	$(MAKE) build
	cd build && ctest --output-on-failure -j$(JOBS)
	$(MAKE) build-asan
	cd build-asan && ctest --output-on-failure -j$(JOBS)
	cd build && POISONSCAN_SIMD=scalar ctest --output-on-failure -j$(JOBS)

demo: deps
	$(MAKE) build
	$(PYTHON) tools/gen_corpus.py --kind demo --out demo-data --expected demo-data.expected.json
	rm -rf demo-out
	@rc=0; build/poisonscan scan --out demo-out demo-data/ || rc=$$?; \
	$(PYTHON) tools/check_demo.py --scan-exit $$rc demo-out demo-data.expected.json

bench: deps
	$(MAKE) build
	$(PYTHON) tools/gen_corpus.py --kind bench --out bench-data
	sh bench/run_bench.sh bench-data
	sh bench/run_coord.sh bench-data
	$(PYTHON) bench/run_job.py bench-data $$(ls -d accuracy-data-*/base 2>/dev/null) \
	  --md docs/performance.md
	$(PYTHON) bench/run_job.py --pair bench-data $$(ls -d accuracy-data-*/base 2>/dev/null) \
	  --md docs/performance.md --section "Two workers, one coordinator (make bench)"

# reuses the text extracted by make demo / make bench when present (linked, never written)
bench-accuracy: deps
	sh tools/deps.sh accuracy
	$(MAKE) build
	$(PYTHON) tools/gen_accuracy.py --out accuracy-data-$(BASE_MB) --base-mb $(BASE_MB) \
	  --cache accuracy-data/.cache --reuse-cache demo-data/.cache --reuse-cache bench-data/.cache
	$(PYTHON) bench/run_accuracy.py accuracy-data-$(BASE_MB) --md docs/benchmarks.md
	$(MAKE) bench-detect2

# the text cache in detect2-data/.cache is built once (about 5 minutes), then reused
bench-detect2: deps
	sh tools/deps.sh accuracy
	$(MAKE) build
	$(PYTHON) tools/gen_attacks.py --out detect2-data --half $(HALF) --generator $(GENERATOR)
	$(PYTHON) bench/run_detect2.py detect2-data --half $(HALF) --generator $(GENERATOR) \
		--md docs/benchmark-v2.md

# reads ../shared/data/backdoorllm and the text cache of make demo / make bench (extracted into
# demo-data/.cache when neither is there); corpora in a temporary folder, about 3 minutes
bench-finetune: deps
	$(MAKE) build
	$(PYTHON) bench/run_finetune.py --md docs/benchmarks.md

# every libFuzzer target for FUZZ_SECONDS (default 600) each, FUZZ_JOBS (default 2) side by
# side; outside CI (make test replays the seeds and past crashers instead)
fuzz:
	sh tools/deps.sh fuzz
	sh tools/fuzz.sh

# deploy/docker/Dockerfile's steps in debootstrap'ed Debian 12 roots (no Docker engine needed),
# then make demo's scan with the image's binary; outside make test (root, a Debian mirror, ~1 GB)
docker-check: deps
	sh tools/deps.sh docker
	sh tools/docker_check.sh

clean:
	rm -rf build build-asan demo-out
