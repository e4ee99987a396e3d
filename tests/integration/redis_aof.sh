# redis_aof.sh - a private redis-server with AOF (appendfsync everysec) for the restart tests,
# sourced after lib.sh: it replaces lib.sh's redis (no persistence) on the same socket, and can
# be killed with -9 and started again from its append-only files, or from a copy of them taken
# earlier (a server that lost its last writes, deterministically).

AOF_DIR=$T/redis-data
_AOF_N=0

# redis_aof_start : start redis-server (AOF on, everysec) with its data in $AOF_DIR; wait for it
# to answer PING (it answers -LOADING until its data is read).
redis_aof_start() {
	_AOF_N=$((_AOF_N + 1))
	mkdir -p "$AOF_DIR"
	start_bg "redis$_AOF_N" redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
		--save '' --appendonly yes --appendfsync everysec --appenddirname aof \
		--daemonize no --dir "$AOF_DIR"
	wait_for redis_loaded 30
	REDIS_PID=$(pid_of "redis$_AOF_N")
}

redis_loaded() { [ "$(rcli info persistence 2>/dev/null | tr -d '\r' | sed -n 's/^loading://p')" = 0 ]; }

# redis_aof_kill : kill -9 the running redis-server and wait until it is gone
redis_aof_kill() {
	kill -KILL "$REDIS_PID"
	wait_exit "redis$_AOF_N" 10 >/dev/null
}

# redis_aof_copy DIR : a copy of the append-only files as they are now (a prefix of the writes:
# a command cut in the middle is dropped when the copy is loaded)
redis_aof_copy() {
	rm -rf "$1"
	cp -r "$AOF_DIR/aof" "$1"
}

# redis_aof_restore DIR : the append-only files replaced by the copy in DIR (redis must be down)
redis_aof_restore() {
	rm -rf "$AOF_DIR/aof"
	cp -r "$1" "$AOF_DIR/aof"
}

# lib.sh started a redis-server without persistence on $REDIS_SOCK: stop it, start ours there
kill -TERM "$(pid_of redis)"
wait_exit redis 10 >/dev/null
redis_aof_start
log "redis-server with AOF (everysec) in $AOF_DIR, pid $REDIS_PID"
