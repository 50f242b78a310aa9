#!/usr/bin/env python3
"""The secretfs benchmark (W1-W7 of the performance issue), run on secretfs, gocryptfs and tmpfs
side by side. Called by scripts/bench with the release build's bin directory. Everything it mounts
is unmounted on exit, even on failure."""
import json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, time

BIN = sys.argv[1]
ROOT = tempfile.mkdtemp(prefix="secretfs-bench-", dir="/var/tmp")
DIRS = [f"app{a}/env{e}" for a in range(5) for e in range(2)]
MOUNTS, PROCESSES = [], []
# FUSE over io_uring is off by default in the kernel; secretfsd uses it when on (gocryptfs cannot).
RING_SWITCH = "/sys/module/fuse/parameters/enable_uring"
RING_WAS = open(RING_SWITCH).read().strip() if os.path.exists(RING_SWITCH) else None


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def wait_mounted(path, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(line.split()[1] == path for line in open("/proc/mounts")):
            return
        time.sleep(0.05)
    raise SystemExit(f"bench: {path} did not mount")


def enable_ring():
    if RING_WAS is not None:
        with open(RING_SWITCH, "w") as switch:
            switch.write("Y")


def cleanup():
    for path in reversed(MOUNTS):
        subprocess.run(["fusermount3", "-uz", path], capture_output=True)
        subprocess.run(["umount", "-l", path], capture_output=True)
    for process in PROCESSES:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    shutil.rmtree(ROOT, ignore_errors=True)
    if RING_WAS is not None:
        with open(RING_SWITCH, "w") as switch:
            switch.write(RING_WAS)


def secretfs_env(state):
    return dict(os.environ, SECRETFS_STATE_DIR=state)


def mount_secretfs(name, setup=None):
    state, mnt = f"{ROOT}/{name}-state", f"{ROOT}/{name}"
    os.makedirs(mnt)
    run(f"{BIN}/secretfs", "init", env=secretfs_env(state))
    if setup:
        setup(state)
    log = open(f"{ROOT}/{name}.log", "w")
    process = subprocess.Popen([f"{BIN}/secretfsd", mnt, "--state-dir", state, "--foreground", "--file-mode", "0600"],
                               stdout=subprocess.DEVNULL, stderr=log)
    PROCESSES.append(process)
    MOUNTS.append(mnt)
    wait_mounted(mnt)
    return mnt, process, state


def stop(mnt, process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    MOUNTS.remove(mnt)


def mount_gocryptfs():
    cipher, plain = f"{ROOT}/gocryptfs-cipher", f"{ROOT}/gocryptfs"
    os.makedirs(cipher), os.makedirs(plain)
    run("gocryptfs", "-init", "-q", "-extpass", "echo bench-password", "-scryptn", "10", cipher)
    run("gocryptfs", "-q", "-extpass", "echo bench-password", cipher, plain)
    MOUNTS.append(plain)
    wait_mounted(plain)
    return plain


def mount_tmpfs():
    path = f"{ROOT}/tmpfs"
    os.makedirs(path)
    run("mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", path)
    MOUNTS.append(path)
    return path


def cpu_ticks(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def settle():
    """Waits until no file system has work left over from the last measurement: dirty pages
    written back (sync) and every daemon idle for 100 ms (secretfsd's background WAL
    checkpoint, gocryptfs's writes), so that one file system's leftover work does not land in
    another's measurement."""
    found = subprocess.run(["pgrep", "-x", "gocryptfs"], capture_output=True, text=True).stdout.split()
    pids = [p.pid for p in PROCESSES if p.poll() is None] + [int(pid) for pid in found]
    os.sync()
    deadline = time.time() + 10
    while time.time() < deadline:
        before = [cpu_ticks(pid) for pid in pids]
        time.sleep(0.1)
        if [cpu_ticks(pid) for pid in pids] == before:
            break
    os.sync()


def make_dirs(base):
    for d in DIRS:
        os.makedirs(f"{base}/{d}", exist_ok=True)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def w1_prepare(base):
    """Writes W1's 1,000 secrets and reads each once; returns their paths."""
    rng = random.Random(1)
    paths = []
    for i in range(1000):
        path = f"{base}/{DIRS[i % 10]}/w1-{i}"
        write_file(path, os.urandom(rng.randint(100, 4096)))
        paths.append(path)
    for path in paths:  # warm
        with open(path, "rb") as f:
            f.read()
    return paths


def w1_slice(paths, seconds):
    """Opens, reads and closes the paths in turn for `seconds`; returns (operations, elapsed)."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            os.read(fd, 8192)
            os.close(fd)
        count += len(paths)
    return count, time.perf_counter() - start


def w1_small_reads(targets):
    """W1 on every target, 3 s each, in 1 s slices taken in turn: a slow spell of a shared
    machine then falls on all file systems alike instead of on whichever ran at the time."""
    paths = {name: w1_prepare(base) for name, base in targets.items()}
    totals = {name: [0, 0.0] for name in targets}
    for _ in range(3):
        for name in targets:
            count, elapsed = w1_slice(paths[name], 1)
            totals[name][0] += count
            totals[name][1] += elapsed
    return {name: count / elapsed for name, (count, elapsed) in totals.items()}


def w2_listing(base):
    for i in range(10000):
        write_file(f"{base}/{DIRS[i % 10]}/w2-{i}", b"x" * 64)
    settle()
    best = 0
    for _ in range(3):
        entries, start = 0, time.perf_counter()
        for top, dirs, files in os.walk(base):
            for name in dirs + files:
                os.stat(os.path.join(top, name))
                entries += 1
        best = max(best, entries / (time.perf_counter() - start))
    return best


def w3_copy(base, source):
    start = time.perf_counter()
    for i in range(1000):
        shutil.copyfile(f"{source}/small-{i}", f"{base}/{DIRS[i % 10]}/w3-{i}")
    return 1000 / (time.perf_counter() - start)


def w4_large(base, source):
    start = time.perf_counter()
    for i in range(20):
        shutil.copyfile(f"{source}/large-{i}", f"{base}/{DIRS[i % 10]}/w4-{i}")
    write = 20 * 10 * 1048576 / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    for i in range(20):
        with open(f"{base}/{DIRS[i % 10]}/w4-{i}", "rb") as f:
            while f.read(1048576):
                pass
    read = 20 * 10 * 1048576 / (time.perf_counter() - start) / 1e6
    return write, read


def requests_served(mnt, process):
    """Stops a secretfsd and reads from its log how many requests came through io_uring and the device."""
    stop(mnt, process)
    log = open(f"{ROOT}/{os.path.basename(mnt)}.log").read()
    counts = [re.search(rf"requests_{path}=(\d+)", log) for path in ("io_uring", "device")]
    return tuple(int(found.group(1)) if found else 0 for found in counts)


def peak_rss_mib(process):
    for line in open(f"/proc/{process.pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def w5_kms():
    port = free_port()
    log = open(f"{ROOT}/moto.log", "w")
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4"))
    PROCESSES.append(moto)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                raise SystemExit("bench: moto_server did not start")
            time.sleep(0.2)
    endpoint = f"http://127.0.0.1:{port}"
    setup = json.loads(run("python3", os.path.join(os.path.dirname(__file__), "../Tests/Fixtures/moto_setup.py"), endpoint).stdout)

    def configure(state):
        env = secretfs_env(state)
        subprocess.run([f"{BIN}/secretfs", "manager", "add", "aws-kms", "kms", "--key-arn", setup["key_arn"], "--credentials", "access-keys",
                        "--access-key-id", setup["access_key_id"], "--secret-access-key-file", "-", "--endpoint", endpoint, "--default"],
                       input=setup["secret_access_key"], text=True, check=True, capture_output=True, env=env)

    mnt, process, state = mount_secretfs("secretfs-kms", configure)
    make_dirs(mnt)
    for i in range(1000):
        write_file(f"{mnt}/{DIRS[i % 10]}/kms-{i}", os.urandom(256))
    stop(mnt, process)
    log.flush()

    def kms_calls():
        return sum(1 for line in open(f"{ROOT}/moto.log") if '"POST / HTTP' in line)

    log = open(f"{ROOT}/secretfs-kms.log", "a")
    process = subprocess.Popen([f"{BIN}/secretfsd", mnt, "--state-dir", state, "--foreground"], stdout=subprocess.DEVNULL, stderr=log)
    PROCESSES.append(process)
    MOUNTS.append(mnt)
    wait_mounted(mnt)
    results = []
    for _ in range(2):
        before, start = kms_calls(), time.perf_counter()
        for i in range(1000):
            with open(f"{mnt}/{DIRS[i % 10]}/kms-{i}", "rb") as f:
                f.read()
        elapsed = time.perf_counter() - start
        time.sleep(0.2)
        results.append((elapsed, kms_calls() - before))
    stop(mnt, process)
    moto.send_signal(signal.SIGKILL)
    return results


def w7_crypto():
    """Ours (seal, then open) and openssl's speed taken in turn, 1 s apiece, six times: each of
    our rounds is compared with the mean of the openssl runs just before and just after it, and
    the medians (of the figures, and of the ratios) are reported, so that a slow spell of a
    shared machine falls on both sides of a ratio."""
    def openssl():
        line = run("openssl", "speed", "-evp", "aes-256-gcm", "-seconds", "1", "-bytes", "16384").stdout.strip().splitlines()[-1]
        return float(line.split()[-1].rstrip("k")) * 1000 / 1e6
    rounds, before = [], openssl()
    for _ in range(6):
        ours = run(f"{BIN}/secretfs-crypto-bench", "16384", "--seconds", "1").stdout
        seal = float(re.search(r"seal 16384 ([\d.]+)", ours).group(1))
        opened = float(re.search(r"open 16384 ([\d.]+)", ours).group(1))
        after = openssl()
        rounds.append((seal, opened, (before + after) / 2))
        before = after
    median = lambda values: (sorted(values)[2] + sorted(values)[3]) / 2
    return (median([r[0] for r in rounds]), median([r[1] for r in rounds]), median([r[2] for r in rounds]),
            median([r[0] / r[2] for r in rounds]), median([r[1] / r[2] for r in rounds]))


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1048576
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, kernel {os.uname().release}"


def main():
    enable_ring()
    source = mount_tmpfs() + "/source"
    os.makedirs(source)
    rng = random.Random(3)
    for i in range(1000):
        write_file(f"{source}/small-{i}", os.urandom(rng.randint(100, 4096)))
    for i in range(20):
        write_file(f"{source}/large-{i}", os.urandom(10 * 1048576))
    targets = {"secretfs": None, "gocryptfs": None, "tmpfs": MOUNTS[0] + "/target"}
    # Developer knobs for profiling one part: BENCH_ONLY=secretfs,tmpfs and BENCH_WORKLOADS=W1,W2 print raw figures only.
    only = [t for t in os.environ.get("BENCH_ONLY", "").split(",") if t]
    workloads = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w] or ["W1", "W2", "W3", "W4"]
    targets = {name: base for name, base in targets.items() if not only or name in only}
    if "gocryptfs" in targets:
        targets["gocryptfs"] = mount_gocryptfs()
    secretfs_process = None
    if "secretfs" in targets:
        targets["secretfs"], secretfs_process, _ = mount_secretfs("secretfs")
    if "tmpfs" in targets:
        os.makedirs(targets["tmpfs"])
    figures = {name: {} for name in targets}
    for base in targets.values():
        make_dirs(base)
    # Each workload runs on every file system before the next workload starts, so the figures a
    # ratio compares are taken minutes apart at most, not a whole run apart.
    for workload in workloads:
        print(f"bench: running {workload} on {', '.join(targets)}", file=sys.stderr)
        if workload == "W1":
            settle()
            for name, value in w1_small_reads(targets).items():
                figures[name]["W1"] = value
            continue
        for name, base in targets.items():
            settle()
            row = figures[name]
            if workload == "W2":
                row["W2"] = w2_listing(base)
            elif workload == "W3":
                row["W3"] = w3_copy(base, source)
            elif workload == "W4":
                row["W4w"], row["W4r"] = w4_large(base, source)
    if only or os.environ.get("BENCH_WORKLOADS"):
        if secretfs_process:
            figures["secretfs"]["W6"] = peak_rss_mib(secretfs_process)
        print(json.dumps(figures, indent=1))
        return
    figures["secretfs"]["W6"] = peak_rss_mib(secretfs_process)
    served = requests_served(targets["secretfs"], secretfs_process)
    print("bench: running W5 (AWS KMS through moto) and W7 (crypto)", file=sys.stderr)
    (cold_time, cold_calls), (warm_time, warm_calls) = w5_kms()
    seal, opened, openssl, seal_share, open_share = w7_crypto()

    rows = []
    def ratio_row(label, key, unit, target):
        s, g, t = figures["secretfs"][key], figures["gocryptfs"][key], figures["tmpfs"][key]
        r = s / g
        rows.append((label, f"{s:,.0f} {unit}", f"{g:,.0f} {unit}", f"{t:,.0f} {unit}", f"{r:.2f}x", f">= {target}x", "yes" if r >= target else "NO"))
    ratio_row("W1 warm small reads", "W1", "ops/s", 3)
    ratio_row("W2 walk + stat (10k+)", "W2", "entries/s", 2)
    ratio_row("W3 copy in 1,000 small", "W3", "files/s", 1)
    ratio_row("W4 20 x 10 MiB write", "W4w", "MB/s", 1)
    ratio_row("W4 20 x 10 MiB read", "W4r", "MB/s", 1)
    rows.append(("W5 1,000 KMS reads, cold", f"{cold_time:.2f} s, {cold_calls} calls", "-", "-", "-", "-", "-"))
    rows.append(("W5 again within TTL", f"{warm_time:.2f} s, {warm_calls} calls", "-", "-", "-", "0 calls", "yes" if warm_calls == 0 else "NO"))
    rss = figures["secretfs"]["W6"]
    rows.append(("W6 peak RSS secretfsd", f"{rss:.1f} MiB", "-", "-", "-", "<= 64 MiB", "yes" if rss <= 64 else "NO"))
    for label, value, share in (("W7 AES-256-GCM seal", seal, seal_share), ("W7 AES-256-GCM open", opened, open_share)):
        rows.append((label, f"{value:,.0f} MB/s", f"openssl {openssl:,.0f} MB/s", "-", f"{share:.0%}", ">= 80%", "yes" if share >= 0.8 else "NO"))
    header = ("workload", "secretfs", "gocryptfs", "tmpfs", "secretfs/gocryptfs", "target", "met")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print(f"Machine: {machine()}")
    print(f"secretfsd served {served[0]:,} requests through FUSE over io_uring and {served[1]:,} through /dev/fuse")
    for row in [header] + rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
        if row is header:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    missed = [r[0] for r in rows if r[-1] == "NO"]
    print("all targets met" if not missed else "targets missed: " + ", ".join(missed))


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
