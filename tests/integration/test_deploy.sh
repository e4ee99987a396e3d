#!/bin/sh
# test_deploy.sh - deploy/: every Kubernetes overlay renders with Debian 12's `kubectl kustomize`
# (tools/kubectl-debian.sh: that binary, never another kubectl on PATH) and parses as the objects
# we rely on, whose options and POISONSCAN_* variables the binary knows; the Slurm scripts are
# clean under shellcheck and, with a stand-in srun that starts the tasks on this machine,
# poisonscan.sbatch runs a whole job (Redis, coordinator, CURVE, workers from it and from the array script) to the
# exact report of the corpus.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

D=$PS_SOURCE_DIR/deploy
KUBECTL=$(sh "$PS_SOURCE_DIR/tools/kubectl-debian.sh") || fail "no Debian kubectl (make deps)"
log "kubectl: $KUBECTL ($("$KUBECTL" version --client --short 2>/dev/null || true))"
"$BIN" coordinator --help >"$T/help.coordinator"
"$BIN" worker --help >"$T/help.worker"

n=0
for o in "$D"/kubernetes/overlays/*/; do
	name=$(basename "$o")
	"$KUBECTL" kustomize "$o" >"$T/k8s-$name.yaml" 2>"$T/kustomize.log" ||
		fail "kubectl kustomize $name: $(cat "$T/kustomize.log")"
	n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "only $n overlays"

python3 - "$T" "$D"/kubernetes/overlays/*/ <<'PYEOF' || fail "the rendered objects are not what we rely on"
import os, re, sys
import yaml

t = sys.argv[1]
helps = {r: open(os.path.join(t, "help." + r)).read() for r in ("coordinator", "worker")}
flags = {r: set(re.findall(r"^  --([a-z0-9-]+)", h, re.M)) for r, h in helps.items()}
envs = {r: set(re.findall(r"env: (POISONSCAN_[A-Z_]+)", h)) for r, h in helps.items()}

def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, "%s/%s: %d found" % (kind, name, len(found))
    return found[0]

def failure_policy(job, container, exit_codes):
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never", "podFailurePolicy needs Never"
    rules = spec["podFailurePolicy"]["rules"]
    fail_job = [r for r in rules if r["action"] == "FailJob"]
    assert len(fail_job) == 1 and fail_job[0]["onExitCodes"] == {
        "containerName": container, "operator": "In", "values": exit_codes}, rules
    ignore = [r for r in rules if r["action"] == "Ignore"]
    assert ignore == [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}], rules

def container(obj, name, objs):
    pod = obj["spec"]["template"]["spec"]
    (c,) = [c for c in pod["containers"] if c["name"] == name]
    req = c["resources"]["requests"]
    assert req.get("cpu") and req.get("memory"), (name, req)
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"])
        assert v is not None or m["name"] in [p["metadata"]["name"] for p in
                                              obj["spec"].get("volumeClaimTemplates", [])], m
        if v and "secret" in v:
            assert v["secret"]["defaultMode"] == 0o400 and m.get("readOnly"), (name, v, m)
    return c, pod

def env_names(c, objs):
    names = {e["name"] for e in c.get("env", [])}
    for ef in c.get("envFrom", []):
        cm = one(objs, "ConfigMap", ef["configMapRef"]["name"])
        names |= set(cm["data"])
    return names

def check_poisonscan(c, role, objs):
    assert c["args"][0] == role, c["args"]
    for a in c["args"][1:]:
        if a.startswith("--"):
            f = a[2:].split("=", 1)[0]
            assert f in flags[role], "%s: unknown option --%s" % (role, f)
    known = envs[role] | envs["coordinator"] | envs["worker"]
    for e in env_names(c, objs):
        assert e in known, "%s: unknown variable %s" % (role, e)
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            assert ref["key"] in one(objs, "ConfigMap", ref["name"])["data"], ref

for path in sys.argv[2:]:
    name = os.path.basename(path.rstrip("/"))
    objs = [o for o in yaml.safe_load_all(open(os.path.join(t, "k8s-%s.yaml" % name))) if o]
    cm = one(objs, "ConfigMap", "poisonscan")["data"]
    redis_url = one(objs, "ConfigMap", "poisonscan-redis")["data"]["url"]

    coord = one(objs, "Job", "poisonscan-coordinator")
    failure_policy(coord, "coordinator", [3])
    c, pod = container(coord, "coordinator", objs)
    check_poisonscan(c, "coordinator", objs)
    svc = one(objs, "Service", "poisonscan-coordinator")
    labels = coord["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects no coordinator pod"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    svc_ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert "--bind=tcp://*:%d" % ports["zmq"] in c["args"], c["args"]
    assert "--metrics=:%d" % ports["metrics"] in c["args"], c["args"]
    assert set(svc_ports) == {"zmq", "metrics"} and all(tp in ports for _, tp in svc_ports.values())
    assert "/corpus" in c["args"] and "--out=/out" in c["args"]

    workers = one(objs, "Job", "poisonscan-workers")
    ws = workers["spec"]
    assert ws["completionMode"] == "Indexed" and ws["parallelism"] >= 1, ws
    assert ws["completions"] == ws["parallelism"], "an index per parallel worker"
    failure_policy(workers, "worker", [3])
    w, _ = container(workers, "worker", objs)
    check_poisonscan(w, "worker", objs)
    m = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", cm["POISONSCAN_CONNECT"])
    assert m and m.group(1) == svc["metadata"]["name"] and int(m.group(2)) == svc_ports["zmq"][0], cm
    # the workers' server key is the coordinator's public key, from the workers' own Secret
    assert "--curve-server-key=@/keys/coordinator.pub" in w["args"]

    sts = [o for o in objs if o["kind"] == "StatefulSet"]
    if name == "redis-statefulset":
        (s,) = sts
        r, _ = container(s, "redis", objs)
        script = " ".join(r["command"])
        assert "--appendonly yes" in script and "requirepass" in script, script
        assert s["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        rsvc = one(objs, "Service", s["spec"]["serviceName"])
        assert redis_url == "redis://%s:%d" % (rsvc["metadata"]["name"], rsvc["spec"]["ports"][0]["port"]), redis_url
    else:
        assert not sts, "an external Redis overlay runs a Redis"
        assert not redis_url.startswith("redis://poisonscan-redis"), redis_url
    kinds = sorted("%s/%s" % (o["kind"], o["metadata"]["name"]) for o in objs)
    print("%s: %s" % (name, ", ".join(kinds)), file=sys.stderr)
PYEOF
log "ok: $n overlays render and hold the objects and options we rely on"

command -v shellcheck >/dev/null || fail "shellcheck is not installed (make deps)"
shellcheck "$D"/slurm/*.sbatch || fail "shellcheck found problems in deploy/slurm"
log "ok: deploy/slurm passes shellcheck"

# --- poisonscan.sbatch end to end, with a stand-in srun -------------------------------------
# srun [--ntasks-per-node=N|--ntasks=N] [other options] CMD...: N copies of CMD here
mkdir -p "$T/bin"
cat >"$T/bin/srun" <<'EOF'
#!/bin/sh
n=1
while [ $# -gt 0 ]; do
	case $1 in
	--ntasks-per-node=* | --ntasks=*) n=${1#*=} ;;
	--*) ;;
	*) break ;;
	esac
	shift
done
i=0
pids=""
while [ $i -lt "$n" ]; do
	"$@" &
	pids="$pids $!"
	i=$((i + 1))
done
st=0
for p in $pids; do wait "$p" || st=$?; done
exit $st
EOF
chmod +x "$T/bin/srun"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
SLURM_JOB_ID=4242
SLURM_CPUS_PER_TASK=2
CORPUS="$T/corpus"
OUT="$T/slurm-out"
POISONSCAN="$BIN"
export SLURM_JOB_ID SLURM_CPUS_PER_TASK CORPUS OUT POISONSCAN
ZMQ_PORT=$(free_port)
REDIS_PORT=$(free_port)
export ZMQ_PORT REDIS_PORT
start_bg sbatch env PATH="$T/bin:$PATH" WORKERS_PER_NODE=1 bash "$D/slurm/poisonscan.sbatch"
wait_for test -s "$OUT/.run/endpoint" 60
start_bg array env PATH="$T/bin:$PATH" WORKERS_PER_NODE=2 GIVE_UP="$(secs 60)" bash "$D/slurm/poisonscan-workers.sbatch"
assert_eq "$(wait_exit sbatch 300)" 0 "poisonscan.sbatch exit status"
assert_eq "$(wait_exit array 60)" 0 "poisonscan-workers.sbatch exit status"
check_report "$OUT" "$EXP"
# one worker from the script, two from the array task (a reconnect would add identities)
[ "$(grep -c "worker '.*' joined" "$T/sbatch.log")" -ge 3 ] || fail "the array's workers never joined"
[ -s "$OUT/report.html" ] || fail "no report.html"
assert_eq "$(stat -c %a "$OUT/.run")" 700 "mode of the run directory"
grep -q "job 'slurm-4242' done" "$T/sbatch.log" || fail "the script did not say it was done"
! grep -rqF -- "$(cat "$OUT/.run/redis.password")" "$T"/*.log || fail "the Redis password is in a log"
python3 -c 'import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0)' \
	"$REDIS_PORT" || fail "Redis still runs after the job"
log "ok: poisonscan.sbatch ran job slurm-4242 to the exact report, with the array script's workers"
log "PASS"
