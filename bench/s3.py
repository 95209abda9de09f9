#!/usr/bin/env python3
"""S3 benchmark (#16): the same generated month from local disk, from the local S3 server
directly, and through scripts/s3-fault-proxy.py adding a latency to every request.

    eval "$(scripts/s3-server.sh start)"
    bench/s3.py [--pod-rows 2000000] [--runs 3] [--latencies 0,20,50] [--ocpagg PATH]
                [--extra "--s3-read-ahead-mib 64"]

The month is generated once (target/bench-data/, see benchlib.py) and uploaded once to the
server's bucket ($OCPAGG_TEST_S3_BUCKET) under bench-<rows>-<seed>/ with boto3 (the script
re-executes itself in the .venv that scripts/s3-server.sh creates for moto). After one warm-up run per configuration, the configurations
run alternately --runs times. Prints, per configuration, the median wall and CPU time, the
peak RSS, the requests and bytes of the run (from ocpagg's summary), requests per file read,
and the targets of the issue: 20 ms per request at most 1.5x the server direct, at most 1.3
requests per file, peak RSS (direct) within 20% of local disk.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PROXY = os.path.join(bl.REPO, "scripts", "s3-fault-proxy.py")


def endpoint() -> tuple[str, int]:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url or not os.environ.get("OCPAGG_TEST_S3_BUCKET"):
        bl.fail('no local S3 server: run eval "$(scripts/s3-server.sh start)" first')
    u = urllib.parse.urlparse(url)
    if u.scheme != "http":
        bl.fail(f"AWS_ENDPOINT_URL {url}: the benchmark expects the local http server")
    return u.hostname, u.port or 80


def upload(warehouse: str, bucket: str, prefix: str) -> None:
    """Uploads the warehouse once (a marker object records that it finished), with boto3
    from the venv scripts/s3-server.sh made (moto depends on it)."""
    import boto3  # noqa: PLC0415 (only in the venv; main() re-executes there)
    from botocore.exceptions import ClientError  # noqa: PLC0415

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    marker = f"{prefix}/.complete"
    try:
        s3.head_object(Bucket=bucket, Key=marker)
        return
    except ClientError:
        pass
    print(f"uploading {warehouse} to s3://{bucket}/{prefix} ...", flush=True)
    n = 0
    for root, _, files in os.walk(warehouse):
        for name in files:
            if name.endswith(".parquet"):
                path = os.path.join(root, name)
                s3.upload_file(path, bucket, f"{prefix}/{os.path.relpath(path, warehouse)}")
                n += 1
    s3.put_object(Bucket=bucket, Key=marker, Body=b"done")
    print(f"uploaded {n} files", flush=True)


def start_proxy(latency_ms: int) -> tuple[subprocess.Popen, int]:
    host, port = endpoint()
    p = subprocess.Popen([sys.executable, PROXY, "--upstream", f"{host}:{port}",
                          "--latency-ms", str(latency_ms), "--max-seconds", "7200",
                          "--max-requests", "100000000"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"PORT (\d+)", line)
    if not m:
        bl.fail(f"the proxy did not start: {line!r}")
    return p, int(m.group(1))


def run(cmd: list[str], env: dict, what: str) -> tuple[bl.Measure, str]:
    """One child: wall, CPU, peak RSS, and its stderr (the run summary)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        # The run summary goes to stderr.
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            bl.fail(f"{what} failed: {' '.join(cmd)}\n{text}")
    return bl.Measure(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024), text


def io_figures(summary: str) -> tuple[int, float, float, int]:
    """(requests, requests per file, MiB received, files read) from the run summary."""
    files = int(re.search(r"read\s+(\d+) files", summary).group(1))
    m = re.search(r"s3\s+(\d+) requests \((\d+) retries, ([\d.]+) per file read\), "
                  r"([\d.]+) MiB received", summary)
    if not m:
        return 0, 0.0, 0.0, files
    return int(m.group(1)), float(m.group(3)), float(m.group(4)), files


def main() -> int:
    venv_python = os.path.join(bl.REPO, ".venv", "bin", "python")
    try:
        import boto3  # noqa: F401, PLC0415
    except ImportError:
        if not os.path.exists(venv_python):
            bl.fail('no .venv with boto3: run eval "$(scripts/s3-server.sh start)" first')
        os.execv(venv_python, [venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    p = argparse.ArgumentParser(description="ocpagg from local disk vs S3 (+latency)")
    p.add_argument("--pod-rows", type=int, default=2_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--latencies", default="0,20,50",
                   help="ms added per request through the proxy, comma-separated")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--extra", default="", help="more ocpagg flags for the S3 runs")
    p.add_argument("--ocpagg", help="ocpagg binary (default: cargo build --release)")
    args = p.parse_args()
    if args.runs < 1:
        bl.fail("--runs must be at least 1")
    latencies = [int(x) for x in args.latencies.split(",") if x.strip()]
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    warehouse = bl.dataset(ocpagg, args.pod_rows, args.seed)
    bucket = os.environ.get("OCPAGG_TEST_S3_BUCKET", "")
    endpoint()
    prefix = f"bench-{args.pod_rows}-{args.seed}"
    upload(warehouse, bucket, prefix)
    proxies = {lat: start_proxy(lat) for lat in latencies}
    extra = tuple(args.extra.split())
    configs = [("local disk", warehouse, dict(os.environ), ())]
    configs.append(("S3 direct", f"s3://{bucket}/{prefix}", dict(os.environ), extra))
    for lat, (_, port) in proxies.items():
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        configs.append((f"S3 + proxy {lat} ms", f"s3://{bucket}/{prefix}", env, extra))
    results: dict[str, list] = {name: [] for name, *_ in configs}
    try:
        with tempfile.TemporaryDirectory(prefix="ocpagg-s3-") as scratch:
            out = os.path.join(scratch, "summary.parquet")
            for i in range(args.runs + 1):  # run 0 is the warm-up
                for name, wh, env, more in configs:
                    cmd = bl.ocpagg_command(ocpagg, wh, out, args.threads, quiet=False,
                                            extra=more)
                    m, summary = run(cmd, env, name)
                    if i > 0:
                        results[name].append((m, io_figures(summary)))
                print(f"run {i}/{args.runs}" + (" (warm-up)" if i == 0 else "") + ": " +
                      ", ".join(f"{n} {results[n][-1][0].wall:.2f} s" for n in results
                                if i > 0), flush=True)
    finally:
        for proc, _ in proxies.values():
            proc.kill()
            proc.wait()
    rows, med = [], {}
    for name, rs in results.items():
        wall = statistics.median(m.wall for m, _ in rs)
        cpu = statistics.median(m.cpu for m, _ in rs)
        rss = max(m.rss for m, _ in rs)
        req, per_file, received, files = rs[-1][1]
        med[name] = (wall, rss, per_file)
        rows.append([name, f"{wall:.3f} s", f"{cpu:.2f} s", bl.mib(rss),
                     str(req) if req else "-", f"{per_file:.2f}" if req else "-",
                     f"{received:.1f} MiB" if req else "-", str(files)])
    print()
    print(f"dataset {os.path.relpath(warehouse, bl.REPO)}, {args.runs} runs each; "
          f"{bl.load_note()}")
    print(bl.table(["configuration", "wall median", "CPU median", "peak RSS", "requests",
                    "req/file", "received", "files"], rows))
    direct = med["S3 direct"]
    print()
    for lat in latencies:
        name = f"S3 + proxy {lat} ms"
        print(f"{name}: {med[name][0] / direct[0]:.2f}x S3 direct"
              + (" (target at 20 ms: <= 1.5x)" if lat == 20 else ""))
    print(f"requests per file read (S3 direct): {direct[2]:.2f} (target <= 1.3)")
    print(f"peak RSS S3 direct / local disk: {direct[1] / med['local disk'][1]:.2f}x "
          "(target <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
