#!/bin/sh
# test_keygen.sh - `poisonscan keygen` and the CURVE options: the secret key file is mode 0600
# whatever the umask (also after --force over a loosened file), the public key file 0644, both in
# the format of docs/security.md, the public line on stdout; an existing pair is never
# overwritten without --force; and the coordinator and worker refuse half or contradictory CURVE
# settings, bad key files (naming the line, never quoting it) and plain text over tcp.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

K=$T/keys
mkdir "$K"
mode() { stat -c %a "$1"; }
keyline() { grep -v '^#' "$1"; }

umask 000
"$BIN" keygen "$K/w7.key" >"$T/w7.stdout"
umask 077
assert_eq "$(mode "$K/w7.key")" 600 "secret key file mode (umask 000)"
assert_eq "$(mode "$K/w7.pub")" 644 "public key file mode"
assert_eq "$(cat "$T/w7.stdout")" "$(keyline "$K/w7.pub")" "stdout = the public key line"
# formats: the secret file has one key line of 40 Z85 characters, the public one "KEY NAME"
python3 - "$K/w7.key" "$K/w7.pub" <<'PY' || fail "key files are not in the documented format"
import re, sys
z85 = r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}"
sec = [l for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
pub = [l for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
assert len(sec) == 1 and re.fullmatch(z85 + r"\n", sec[0]), sec
assert len(pub) == 1 and re.fullmatch("(" + z85 + r") w7\n", pub[0]), pub
assert re.search("# its public key: " + re.escape(pub[0].split()[0]) + " w7",
                 open(sys.argv[1]).read())
assert sec[0].split()[0] != pub[0].split()[0]
PY
log "ok: key file formats"

cp "$K/w7.key" "$T/w7.key.before"
cp "$K/w7.pub" "$T/w7.pub.before"
assert_eq "$(run_rc "$BIN" keygen "$K/w7.key")" 3 "keygen over an existing pair"
grep -q -- --force "$T/run.log" || fail "the refusal does not mention --force"
cmp -s "$K/w7.key" "$T/w7.key.before" || fail "the secret key changed without --force"
cmp -s "$K/w7.pub" "$T/w7.pub.before" || fail "the public key changed without --force"
rm "$K/w7.pub"
assert_eq "$(run_rc "$BIN" keygen "$K/w7.key")" 3 "keygen over an existing secret key alone"
assert_eq "$(run_rc "$BIN" keygen --name 'bad name' "$K/x.key")" 3 "keygen with a bad name"
[ ! -e "$K/x.key" ] && [ ! -e "$K/x.pub" ] || fail "a refused keygen left files"

chmod 644 "$K/w7.key"
assert_eq "$(run_rc "$BIN" keygen --force --name worker-7 --public-key "$K/w7.public" "$K/w7.key")" \
	0 "keygen --force"
assert_eq "$(mode "$K/w7.key")" 600 "secret key file mode after --force over a 0644 file"
! cmp -s "$K/w7.key" "$T/w7.key.before" || fail "--force kept the old key"
assert_eq "$(keyline "$K/w7.public" | cut -d' ' -f2)" worker-7 "the --name in the public line"

# --- the coordinator's and the worker's CURVE options ---------------------------------------
"$BIN" keygen "$K/c.key" >/dev/null
"$BIN" keygen "$K/good.key" >"$K/allow"
SECRET=$(keyline "$K/good.key")
coord() {
	run_rc "$BIN" coordinator --redis "$REDIS_URL" --job kg --out "$T/o" "$@" "$T"
}
worker() { run_rc "$BIN" worker --redis "$REDIS_URL" --give-up "$(secs 1)" "$@"; }
assert_eq "$(coord --bind 'tcp://127.0.0.1:*')" 3 "coordinator: tcp without CURVE or --insecure"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --curve-secret-key "$K/c.key")" 3 \
	"coordinator: a secret key without an allow file"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --curve-allow "$K/allow")" 3 \
	"coordinator: an allow file without a secret key"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --insecure --curve-secret-key "$K/c.key" \
	--curve-allow "$K/allow")" 3 "coordinator: --insecure with CURVE"
printf '# one secret too many\n%s\n%s\n' "$SECRET" "$SECRET" >"$K/two.key"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --curve-secret-key "$K/two.key" \
	--curve-allow "$K/allow")" 3 "coordinator: a secret key file with two keys"
grep -q "2 keys" "$T/run.log" || fail "no reason given for the two-key file"
printf '# a typo\n%sX\n' "$SECRET" >"$K/typo.key"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --curve-secret-key "$K/typo.key" \
	--curve-allow "$K/allow")" 3 "coordinator: a secret key file with a bad line"
grep -q "line 2" "$T/run.log" || fail "the bad line is not named"
! grep -qF -- "$SECRET" "$T/run.log" || fail "the bad secret key line was quoted"
printf '# nobody\n' >"$K/empty.allow"
assert_eq "$(coord --bind 'tcp://127.0.0.1:*' --curve-secret-key "$K/c.key" \
	--curve-allow "$K/empty.allow")" 3 "coordinator: an allow file without keys"
assert_eq "$(worker --connect 'tcp://127.0.0.1:9')" 3 "worker: tcp without CURVE or --insecure"
assert_eq "$(worker --connect 'tcp://127.0.0.1:9' --curve-secret-key "$K/good.key")" 3 \
	"worker: a secret key without the server key"
assert_eq "$(worker --connect 'tcp://127.0.0.1:9' --curve-secret-key "$K/good.key" \
	--curve-server-key 'not-a-key')" 3 "worker: a server key that is no key"
chmod 644 "$K/good.key"
assert_eq "$(worker --connect "ipc://$T/nobody.ipc" --curve-secret-key "$K/good.key" \
	--curve-server-key "@$K/c.pub")" 4 "worker: nobody to connect to (gives up)"
grep -q "readable by other users" "$T/run.log" || fail "no warning about a 0644 secret key file"
! grep -qF -- "$SECRET" "$T/run.log" || fail "the worker logged its secret key"
log "PASS"
