#!/bin/sh
# docker_check.sh - run deploy/docker/Dockerfile's steps where no Docker engine is at hand, and
# check that the image's binary passes `make demo`'s scan. Each stage is a Debian 12 root made
# with debootstrap (one minbase root, made once and copied per stage); FROM starts a stage, RUN
# runs in a chroot of it, COPY copies the repository's tracked files (the build context) or, with
# --from, another stage's file; USER is the uid the check runs the binary as. Then a redis-server
# on the host (the image holds none: Redis runs beside it) listens on a socket inside the runtime
# root, the binary scans the demo corpus in a chroot of that root as the image's user, and
# tools/check_demo.py checks the report. Outside `make test`: root, network to a Debian mirror,
# and ~1 GB of disk in DOCKER_CHECK_DIR.
#
#   DOCKER_CHECK_DIR  where the roots go (default build-docker; the debootstrap'ed base is kept)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
set -eu
cd "$(dirname "$0")/.."
DF=deploy/docker/Dockerfile
D=${DOCKER_CHECK_DIR:-build-docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
mkdir -p "$D"
D=$(cd "$D" && pwd)
REPO=$(pwd)

[ "$(id -u)" = 0 ] || {
	echo "docker-check: needs root (debootstrap, chroot)" >&2
	exit 2
}
command -v debootstrap >/dev/null || {
	echo "docker-check: needs debootstrap: 'apt-get install debootstrap'" >&2
	exit 2
}

MOUNTED=""
cleanup() {
	for m in $MOUNTED; do umount "$m" 2>/dev/null || true; done
	[ -z "${REDIS_PID:-}" ] || kill "$REDIS_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ ! -f "$D/base/.complete" ]; then
	rm -rf "$D/base"
	echo "docker-check: debootstrap bookworm (minbase) into $D/base"
	debootstrap --variant=minbase bookworm "$D/base" "$MIRROR" >"$D/debootstrap.log" 2>&1 || {
		tail -n 20 "$D/debootstrap.log" >&2
		exit 1
	}
	touch "$D/base/.complete"
fi

# new_stage NAME : a fresh copy of the base root, with /proc and name resolution
new_stage() {
	rm -rf "${D:?}/stage-$1"
	cp -a "$D/base" "$D/stage-$1"
	cp /etc/resolv.conf "$D/stage-$1/etc/resolv.conf"
	mount -t proc proc "$D/stage-$1/proc"
	MOUNTED="$D/stage-$1/proc $MOUNTED"
}

stage=""
n=0
user=0
# one instruction a line (the Dockerfile keeps them so); comments and blank lines skipped
while read -r kw rest; do
	case "$kw" in
	'' | '#'*) continue ;;
	FROM)
		n=$((n + 1))
		# "IMAGE AS NAME": the stage's name, else its number
		stage=$(echo "$rest" | awk 'toupper($2) == "AS" { print $3; exit } { print "'$n'" }')
		user=0
		echo "docker-check: stage $stage (FROM ${rest%% *})"
		new_stage "$stage"
		;;
	RUN)
		echo "docker-check: [$stage] RUN $(echo "$rest" | cut -c1-100)"
		chroot "$D/stage-$stage" /bin/sh -c "$rest" >>"$D/stage-$stage.log" 2>&1 || {
			tail -n 30 "$D/stage-$stage.log" >&2
			echo "docker-check: RUN failed in stage $stage" >&2
			exit 1
		}
		;;
	COPY)
		# shellcheck disable=SC2086 # SRC DST (or --from=STAGE SRC DST) as words
		set -- $rest
		if [ "${1#--from=}" != "$1" ]; then
			mkdir -p "$D/stage-$stage$(dirname "$3")"
			cp -a "$D/stage-${1#--from=}$2" "$D/stage-$stage$3"
		elif [ "$1" = . ]; then
			mkdir -p "$D/stage-$stage$2"
			git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$D/stage-$stage$2"
		else
			echo "docker-check: COPY $rest: only '.' or --from=STAGE are handled" >&2
			exit 1
		fi
		;;
	USER) user=$rest ;;
	ENTRYPOINT) entry=$(echo "$rest" | sed 's/^\["\([^"]*\)".*/\1/') ;;
	*)
		echo "docker-check: $kw: not handled by this check" >&2
		exit 1
		;;
	esac
done <"$DF"

R=$D/stage-$stage
echo "docker-check: runtime root $R: $(du -shx "$R" | cut -f1) (a minbase root, not the slim image), binary $(du -h "$R$entry" | cut -f1)"

# the demo corpus, as `make demo` makes it, scanned by the image's binary as the image's user
$PYTHON tools/gen_corpus.py --kind demo --out demo-data --expected demo-data.expected.json
rm -rf "$R/data" "$R/out"
cp -a demo-data "$R/data"
mkdir -p "$R/out" "$R/run"
chown "$user" "$R/out" "$R/run"
redis-server --port 0 --unixsocket "$R/run/redis.sock" --unixsocketperm 777 --save '' \
	--appendonly no >"$D/redis.log" 2>&1 &
REDIS_PID=$!
i=0
until [ -S "$R/run/redis.sock" ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || {
		echo "docker-check: redis-server did not start (see $D/redis.log)" >&2
		exit 1
	}
	sleep 0.1
done
rc=0
chroot --userspec="$user:$user" "$R" "$entry" scan --redis unix:///run/redis.sock \
	--out /out/demo /data/ || rc=$?
cd "$REPO"
$PYTHON tools/check_demo.py --scan-exit "$rc" "$R/out/demo" demo-data.expected.json
echo "docker-check: PASS (the image's binary passes make demo's scan)"
