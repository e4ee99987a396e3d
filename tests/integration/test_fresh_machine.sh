#!/bin/sh
# test_fresh_machine.sh - on a machine without the build dependencies, `make build` and a direct
# `cmake` stop with one line that names the missing Debian packages and `make deps`, instead of
# pkg-config's "Package 'libzmq' not found". A fake dpkg-query stands in for the missing packages;
# an empty pkg-config search path for the missing libraries.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

# dpkg-query that calls libzmq3-dev and libmicrohttpd-dev not installed, the rest installed
mkdir -p "$T/fake"
cat >"$T/fake/dpkg-query" <<'FAKE'
#!/bin/sh
for a; do pkg=$a; done
case $pkg in
libzmq3-dev | libmicrohttpd-dev) exit 1 ;;
*) printf 'install ok installed' ;;
esac
FAKE
chmod +x "$T/fake/dpkg-query"

st=0
PATH="$T/fake:$PATH" sh "$PS_SOURCE_DIR/tools/deps.sh" check >"$T/check.out" 2>"$T/check.err" || st=$?
assert_eq "$st" 1 "deps.sh check exit status with two packages missing"
assert_eq "$(wc -l <"$T/check.err" | tr -d ' ')" 1 "lines deps.sh check prints"
grep -q "libzmq3-dev libmicrohttpd-dev; run 'make deps'" "$T/check.err" ||
	fail "deps.sh check does not name the packages and make deps: $(cat "$T/check.err")"
[ ! -s "$T/check.out" ] || fail "deps.sh check wrote to stdout"

# make build runs the check before CMake: it stops there, nothing is configured
st=0
PATH="$T/fake:$PATH" make -s -C "$PS_SOURCE_DIR" build >"$T/make.out" 2>"$T/make.err" || st=$?
[ "$st" -ne 0 ] || fail "make build succeeded with dependencies missing"
grep -q "run 'make deps'" "$T/make.err" || fail "make build did not name make deps: $(cat "$T/make.err")"
if grep -q "Package '.*' not found\|Configuring" "$T/make.out" "$T/make.err"; then
	fail "make build went on to CMake"
fi
log "ok: make build stops with: $(grep "make deps" "$T/make.err")"

# all present: silent, exit 0
printf '#!/bin/sh\nprintf "install ok installed"\n' >"$T/fake/dpkg-query"
st=0
PATH="$T/fake:$PATH" sh "$PS_SOURCE_DIR/tools/deps.sh" check >"$T/check.out" 2>&1 || st=$?
assert_eq "$st" 0 "deps.sh check exit status with everything present"
[ ! -s "$T/check.out" ] || fail "deps.sh check printed with nothing missing: $(cat "$T/check.out")"

# cmake run directly, no library found by pkg-config: one message naming all of them
mkdir -p "$T/no-pc"
st=0
PKG_CONFIG_LIBDIR="$T/no-pc" cmake -S "$PS_SOURCE_DIR" -B "$T/build" >"$T/cmake.out" 2>"$T/cmake.err" || st=$?
[ "$st" -ne 0 ] || fail "cmake configured without libraries"
line=$(grep "missing build dependencies" "$T/cmake.err" || true)
[ -n "$line" ] || fail "cmake did not list the missing dependencies: $(cat "$T/cmake.err")"
assert_eq "$(printf '%s\n' "$line" | wc -l | tr -d ' ')" 1 "lines that list the missing dependencies"
for p in libzmq3-dev libzstd-dev libhiredis-dev libprotobuf-c-dev libxxhash-dev zlib1g-dev \
	libmicrohttpd-dev; do
	case $line in *"$p"*) ;; *) fail "cmake's line does not name $p: $line" ;; esac
done
case $line in *"run 'make deps'"*) ;; *) fail "cmake's line does not name make deps: $line" ;; esac
if grep -q "Package '.*' not found" "$T/cmake.out" "$T/cmake.err"; then
	fail "cmake printed pkg-config's own message"
fi
log "ok: cmake stops with:$line"
log "PASS"
