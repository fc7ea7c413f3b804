#!/usr/bin/env python3
"""Helpers for bench/run.sh (Python 3 standard library only).

  setup    create one system, one Display module, one webhook trigger and N instances through the
           admin API; write the webhook paths to files
  count    sum trigger_count over a system's instances
  startup  start the server and time it until /readyz (or /healthz) answers 200
  wait     wait until the server answers
  report   print the results table and write it to a Markdown file
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

API = "/api/engine/v2"


class Client:
    """One keep-alive connection to 127.0.0.1 that reconnects when the server closes it."""

    def __init__(self, base, key=None, timeout=30):
        u = urllib.parse.urlsplit(base)
        if u.hostname != "127.0.0.1":
            raise SystemExit("bench: refusing to talk to anything but 127.0.0.1")
        self.host, self.port, self.key, self.timeout = u.hostname, u.port, key, timeout
        self.conn = None

    def request(self, method, path, body=None):
        headers = {}
        if self.key:
            headers["X-API-Key"] = self.key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, dict(resp.getheaders()), raw
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def json(self, method, path, body=None, expect=(200,)):
        status, headers, raw = self.request(method, path, body)
        if status not in expect:
            raise SystemExit(f"bench: {method} {path} answered {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None, headers


def cmd_setup(a):
    c = Client(a.base, a.key)
    started = time.perf_counter()
    system, _ = c.json("POST", f"{API}/systems", {"name": "Bench system"}, expect=(201,))
    module, _ = c.json("POST", f"{API}/modules", {"driver": "Display", "control_system_id": system["id"]}, expect=(201,))
    trigger, _ = c.json(
        "POST",
        f"{API}/triggers",
        {"name": "Bench webhook", "enable_webhook": True, "debounce_period": 0, "supported_methods": ["POST"]},
        expect=(201,),
    )
    action_trigger, _ = c.json(
        "POST",
        f"{API}/triggers",
        {
            "name": "Bench action",
            "enable_webhook": True,
            "debounce_period": 0,
            "supported_methods": ["POST"],
            "actions": {"functions": [{"mod": "Display_1", "method": "power", "args": {"state": True}}]},
        },
        expect=(201,),
    )
    modules, _ = c.json("GET", f"{API}/systems/{system['id']}/modules")
    if not any(m.get("reference") == "Display_1" for m in modules):
        raise SystemExit(f"bench: the system has no Display_1 module: {modules}")

    # The first a.instances apply the plain trigger, the next a.action_instances the one with an action.
    total = a.instances + a.action_instances
    results = [None] * total
    lock = threading.Lock()
    next_index = [0]
    failures = []

    def worker():
        wc = Client(a.base, a.key)
        while True:
            with lock:
                i = next_index[0]
                if i >= total or failures:
                    return
                next_index[0] += 1
            applied = trigger if i < a.instances else action_trigger
            try:
                inst, _ = wc.json(
                    "POST",
                    f"{API}/systems/{system['id']}/triggers",
                    {"trigger_id": applied["id"], "exec_enabled": True},
                    expect=(201,),
                )
                results[i] = (inst["id"], inst["webhook_secret"])
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(repr(e))
                return

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"bench: creating instances failed: {failures[0]}")
    seconds = time.perf_counter() - started

    os.makedirs(a.out, exist_ok=True)
    results, action_results = results[: a.instances], results[a.instances :]
    with open(os.path.join(a.out, "paths_action.txt"), "w") as f:
        for iid, secret in action_results:
            f.write(f"{API}/webhook/{iid}/notify?secret={secret}\n")
    with open(os.path.join(a.out, "paths_notify.txt"), "w") as f:
        for iid, secret in results:
            f.write(f"{API}/webhook/{iid}/notify?secret={secret}\n")
    with open(os.path.join(a.out, "paths_exec.txt"), "w") as f:
        for iid, secret in results:
            f.write(f"{API}/webhook/{iid}/notify?secret={secret}&exec=true&mod=Display&index=1&method=request\n")
    with open(os.path.join(a.out, "path_admin.txt"), "w") as f:
        f.write(f"{API}/systems/{system['id']}/triggers/{results[0][0]}\n")
    meta = {
        "system": system["id"],
        "module": module["id"],
        "trigger": trigger["id"],
        "instances": len(results),
        "action_instances": len(action_results),
        "seconds": round(seconds, 2),
        "per_second": round(total / seconds, 1),
    }
    with open(os.path.join(a.out, "setup.json"), "w") as f:
        json.dump(meta, f)
    print(
        f"created system {meta['system']}, module Display_1, trigger {meta['trigger']} and "
        f"{meta['instances']} instances, and a trigger with one function action and {meta['action_instances']} "
        f"instances, in {meta['seconds']} s ({meta['per_second']}/s)"
    )


def cmd_callout(a):
    """A callout asked before every exec of a Display module: scenario (d)."""
    c = Client(a.base, a.key)
    body = {"name": "Bench callout", "url": a.url, "on": ["exec"], "match": {"modules": ["Display_*"]}}
    callout, _ = c.json("POST", f"{API}/callouts", body, expect=(201,))
    print(json.dumps({"id": callout["id"]}))


def cmd_count(a):
    c = Client(a.base, a.key, timeout=120)
    items, total = [], None
    while total is None or len(items) < total:
        page, headers = c.json("GET", f"{API}/systems/{a.system}/triggers?limit=10000&offset={len(items)}")
        total = int(headers.get("X-Total-Count", headers.get("x-total-count", "-1")))
        if not page:
            break
        items.extend(page)
    result = {"listed": len(items), "total": total, "sum": sum(i["trigger_count"] for i in items)}
    if total != len(items):
        raise SystemExit(f"bench: listed {len(items)} of the system's {total} instances")
    json.dump(result, sys.stdout)
    print()


def cmd_startup(a):
    """Starts the server command and polls every `interval` until /readyz answers 200."""
    log = open(a.log, "ab")
    t0 = time.perf_counter()
    proc = subprocess.Popen(a.cmd, stdout=log, stderr=log)
    with open(a.pidfile, "w") as f:
        f.write(str(proc.pid))
    u = urllib.parse.urlsplit(a.base)
    if u.hostname != "127.0.0.1":
        raise SystemExit("bench: refusing to talk to anything but 127.0.0.1")
    endpoint, fallback, first_answer_ms = "/readyz", False, None
    deadline = t0 + a.timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the server exited with {proc.returncode} during start-up (see {a.log})")
        if time.perf_counter() > deadline:
            raise SystemExit(f"bench: not ready after {a.timeout} s")
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            conn.request("GET", endpoint)
            status = conn.getresponse().status
            conn.close()
        except OSError:
            time.sleep(a.interval)
            continue
        now = time.perf_counter()
        if first_answer_ms is None:
            first_answer_ms = (now - t0) * 1000
        if status == 404 and endpoint == "/readyz":
            endpoint, fallback = "/healthz", True
            continue
        if status == 200:
            break
        time.sleep(a.interval)
    ready_ms = (time.perf_counter() - t0) * 1000
    result = {
        "pid": proc.pid,
        "endpoint": endpoint,
        "fallback": fallback,
        "ready_ms": round(ready_ms, 1),
        "first_http_answer_ms": round(first_answer_ms, 1),
    }
    json.dump(result, sys.stdout)
    print()


def cmd_wait(a):
    """Waits until GET `path` answers 200 (any HTTP answer with --any)."""
    u = urllib.parse.urlsplit(a.base)
    if u.hostname != "127.0.0.1":
        raise SystemExit("bench: refusing to talk to anything but 127.0.0.1")
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            conn.request("GET", a.path)
            status = conn.getresponse().status
            conn.close()
            if status == 200 or a.any:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"bench: {a.base}{a.path} did not answer within {a.timeout} s")


def fmt_ms(us):
    return f"{us / 1000:.2f} ms"


def fmt_errors(w):
    socket = {
        "connect": w["connect_errors"],
        "read": w["read_errors"],
        "write": w["write_errors"],
        "timeout": w["timeouts"],
    }
    total = w["non2xx"] + sum(socket.values())
    if total == 0:
        return "0"
    parts = [f"{n}×{s}" for s, n in sorted(w["statuses"].items()) if not s.startswith("2")]
    parts += [f"{n} {k}" for k, n in socket.items() if n]
    return f"{total} ({', '.join(parts)})"


def cmd_report(a):
    rows = []
    with open(a.rows) as f:
        for line in f:
            name, wrk_file, rss_kb, refs = line.rstrip("\n").split("\t")
            with open(wrk_file) as wf:
                w = json.load(wf)
            bare = []
            for ref in filter(None, refs.split(",")):
                with open(ref) as rf:
                    bare.append(json.load(rf)["rps"])
            rows.append((name, w, int(rss_kb), bare))
    out = []
    out.append(f"# Switchboard benchmark ({time.strftime('%Y-%m-%d %H:%M %Z')})")
    out.append("")
    out.append(a.header)
    out.append("")
    out.append("| scenario | requests/s | p50 | p99 | errors | server RSS | ratio to the bare handler |")
    out.append("|---|---:|---:|---:|---|---:|---:|")
    for name, w, rss, bare in rows:
        if bare:
            mean = sum(bare) / len(bare)
            ratio = f"{w['rps'] / mean:.2f} (of {mean:,.0f}/s)" if mean else "n/a"
        else:
            ratio = "reference"
        out.append(
            f"| {name} | {w['rps']:,.0f} | {fmt_ms(w['p50_us'])} | {fmt_ms(w['p99_us'])} | {fmt_errors(w)} "
            f"| {rss / 1024:.1f} MiB | {ratio} |"
        )
    out.append("")
    for extra in a.note:
        out.append(extra)
        out.append("")
    text = "\n".join(out).rstrip() + "\n"
    sys.stdout.write(text)
    with open(a.out, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("setup")
    s.add_argument("--base", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--instances", type=int, default=10000)
    s.add_argument("--action-instances", type=int, default=10000)
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_setup)

    s = sub.add_parser("callout")
    s.add_argument("--base", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--url", required=True)
    s.set_defaults(func=cmd_callout)

    s = sub.add_parser("count")
    s.add_argument("--base", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--system", required=True)
    s.set_defaults(func=cmd_count)

    s = sub.add_parser("startup")
    s.add_argument("--base", required=True)
    s.add_argument("--pidfile", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--interval", type=float, default=0.01)
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_startup)

    s = sub.add_parser("wait")
    s.add_argument("--base", required=True)
    s.add_argument("--path", default="/healthz")
    s.add_argument("--any", action="store_true")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(func=cmd_wait)

    s = sub.add_parser("report")
    s.add_argument("--rows", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--header", default="")
    s.add_argument("--note", action="append", default=[])
    s.set_defaults(func=cmd_report)

    a = p.parse_args()
    if getattr(a, "cmd", None) and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    a.func(a)


if __name__ == "__main__":
    main()
