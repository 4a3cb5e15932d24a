"""HTTP, one proposal per request, several clients, ``crmgate serve --workers N``, beside today's code.

    .venv/bin/python benchmarks/bench_http_workers.py [--workers 2] [--clients 4] [--seconds 15] [--rounds 5]
        [--store sqlite|postgresql://...] [--crm sandbox|hubspot] [--latency 0.1] [--baseline REF]

With ``--crm hubspot`` each request is a deal update against the fake HubSpot of
``bench_budget.py`` (``--latency`` s per call, 190 calls / 10 s): a CRM that answers slowly, where a
lock held across the CRM call would let one request per process through at a time.

Prints ``baseline.row`` lines; asserts nothing about speed. For each tree (this one, and the
baseline commit laid out by :mod:`baseline`), a fresh ``crmgate init`` project on the embedded
sandbox is served by ``crmgate serve --workers N`` on a free loopback port, both at once. They take
turns (``--rounds`` each, alternating which goes first, ``--seconds`` in all per tree): ``--clients``
threads, each on its own keep-alive connection, post one Lead create per request. The figure is
requests answered 200 per second, all clients together, over a tree's turns: taking turns keeps a
change in the shared machine's load from landing on one tree only. Beside it, the CPU the server's
processes (parent and workers, from ``/proc``) spent per request, and the clients' own: the clients
share the machine with the servers, so they are a lean keep-alive loop (:class:`KeepAlive`). A last
check sends a burst past a credential's limit through both workers: the 429s must add up to what
one limit allows.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import baseline  # noqa: E402


def setup(project: str, store: str, limit: int, hubspot: str | None) -> None:
    """``--setup``: a sandbox project (or one on the fake HubSpot at ``hubspot``) and two credentials
    (unlimited, and ``limit`` per minute)."""
    from crmgate.config import load_config
    from crmgate.doors.api import open_service
    from crmgate.project.scaffold import init_project

    init_project(Path(project), seed=False)
    cfg = Path(project) / "crmgate.yaml"
    if store != "sqlite":
        cfg.write_text(cfg.read_text().replace("store: sqlite:///trail.db", f"store: {store}"))
    if hubspot:
        sys.path.append(str(ROOT))
        from tests.hubspot.conftest import HUBSPOT_RULES

        (Path(project) / "rules.yaml").write_text(HUBSPOT_RULES)
        cfg.write_text(cfg.read_text().replace("crm: {kind: sandbox, path: sandbox.db}",
                                               f"crm: {{kind: hubspot, host: '{hubspot}'}}"))
        os.environ["HUBSPOT_TOKEN"] = TOKEN
    with open_service(load_config(cfg)) as service:
        _c, fast = service.credentials.create("ai:lead-intake-1", ["propose"], by="bench", rate_limit=10**9)
        _c, slow = service.credentials.create("ai:lead-intake-2", ["propose"], by="bench", rate_limit=limit)
    print(json.dumps({"fast": fast, "slow": slow}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "pat-bench-budget"  # the fake's, as benchmarks/bench_budget.py serves it


def deal(i: int, ids: list[str]) -> dict:
    return {"object": "deals", "op": "update", "record_id": ids[i % len(ids)], "confidence": 0.9,
            "fields": {"description": f"http {i}"}}


def lead(i: int) -> dict:
    return {"object": "Lead", "op": "create",
            "fields": {"LastName": f"Lead {i}", "Company": f"Company {i % 97}", "Country": "DE"}}


def fresh_schema(url: str) -> str:
    """A new schema in the PostgreSQL database at ``url``, and the URL that uses it."""
    import uuid

    import psycopg

    schema = f"bench_httpw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url}?options=-csearch_path%3D{schema}"


@contextmanager
def served(env: dict[str, str], args: argparse.Namespace, store: str) -> Iterator[dict]:
    """A fresh project served by ``crmgate serve --workers N`` from the tree ``env`` imports:
    yields ``{"url", "tokens", "ids"}``; on leaving, the limit check runs (keys ``admitted`` and
    ``refused`` are added) and everything stops."""
    if store.startswith("postgresql://"):
        store = fresh_schema(store)
    with tempfile.TemporaryDirectory(prefix="bench-httpw-") as tmp:
        project = str(Path(tmp) / "proj")
        fake, ids, extra = None, [], []
        if args.crm == "hubspot":
            ids_file = str(Path(tmp) / "ids.json")
            fake = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_budget.py"), "--serve-fake",
                                     "--latency", str(args.latency), "--records", "2000", "--ids-file", ids_file],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    env=baseline.current_env())
            extra = ["--hubspot", fake.stdout.readline().strip()]
            ids = json.loads(Path(ids_file).read_text())
            env = {**env, "HUBSPOT_TOKEN": TOKEN}
        out = subprocess.run([sys.executable, __file__, "--setup", project, "--store", store, *extra], env=env,
                             capture_output=True, text=True, check=True).stdout
        tokens = json.loads(out.strip().splitlines()[-1])
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", "from crmgate.doors.cli import main; main()", "--config",
                                 f"{project}/crmgate.yaml", "serve", "--port", str(port), "--workers",
                                 str(args.workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180  # a loaded machine starts workers slowly (imports)
            while True:
                try:
                    if httpx.get(f"{url}/v1/openapi.json", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"crmgate serve on {url} never answered") from None
                    time.sleep(0.1)
            time.sleep(1.0)  # let every worker finish starting
            server = {"url": url, "tokens": tokens, "ids": ids, "ok": 0, "wall": 0.0, "pid": proc.pid, "cpu": 0.0,
                      "client_cpu": 0.0}
            yield server
            # the shared limit: `limit` requests per minute for one credential, across every worker
            codes = []
            for _ in range(2 * args.limit):
                with httpx.Client(base_url=url, timeout=60) as http:  # new connections: both workers serve
                    codes.append(http.post("/v1/proposals", json={"proposals": [deal(0, ids) if ids else lead(0)]},
                                           headers={"Authorization": f"Bearer {tokens['slow']}"}).status_code)
            server.update(admitted=sum(c != 429 for c in codes), refused=codes.count(429))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if fake is not None:
                fake.communicate("stop\n")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of ``pid``'s tree (Linux
    ``/proc``): the server's parent and its workers."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = raw.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree = {pid}
    for _ in range(4):  # parent, workers, and whatever they start
        tree |= {p for p, (ppid, _cpu) in stats.items() if ppid in tree}
    return sum(stats[p][1] for p in tree if p in stats)


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection: POST a JSON body, read the status and
    the Content-Length body. The load generator, cheap so that the clients' CPU (they share the
    machine with the servers) stays small beside the servers'; both trees get the same client.
    (httpx cost ~1 ms of client CPU per request here, as much as a fast server's whole request.)"""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers,
                                                             "Content-Type": "application/json"}.items())
        self.buffer = b""

    def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        self.sock.sendall(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(":", 1) for line in lines[1:])
        fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
        if "content-length" not in fields:
            raise RuntimeError(f"no Content-Length in the answer: {lines}")
        size = int(fields["content-length"])
        while len(self.buffer) < size:
            self.buffer += self._recv()
        answer, self.buffer = self.buffer[:size], self.buffer[size:]
        return int(lines[0].split()[1]), answer

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def load(server: dict, clients: int, seconds: float, first: int) -> None:
    """``clients`` threads, each on its own keep-alive connection, post one proposal per request for
    ``seconds``; adds the 200 answers, the time taken, the server's CPU and the clients' CPU to ``server``."""
    ok = [0] * clients
    stop_at = time.perf_counter() + seconds
    ids, headers = server["ids"], {"Authorization": f"Bearer {server['tokens']['fast']}"}

    def client(k: int) -> None:
        http = KeepAlive(server["url"], headers)
        try:
            i = first
            while time.perf_counter() < stop_at:
                one = deal(k * 10**6 + i, ids) if ids else lead(k * 10**6 + i)
                ok[k] += http.post("/v1/proposals", {"proposals": [one]})[0] == 200
                i += 1
        finally:
            http.close()

    t0, cpu0, mine0 = time.perf_counter(), tree_cpu(server["pid"]), time.process_time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server["ok"] += sum(ok)
    server["wall"] += time.perf_counter() - t0
    server["cpu"] += tree_cpu(server["pid"]) - cpu0
    server["client_cpu"] += time.process_time() - mine0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15, help="of load on each tree, in --rounds turns")
    parser.add_argument("--rounds", type=int, default=5, help="turns each tree takes, alternating")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--setup")
    parser.add_argument("--crm", choices=["sandbox", "hubspot"], default="sandbox",
                        help="hubspot: deal updates against bench_budget's fake, --latency s per call")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--hubspot", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", default=baseline.BASELINE_REF,
                        help="the commit to compare with (default: the code before the scale work)")
    args = parser.parse_args()
    if args.setup:
        return setup(args.setup, args.store, args.limit, args.hubspot)
    with baseline.baseline_tree(args.baseline) as old:
        with served(baseline.current_env(), args, args.store) as new, \
                served(baseline.baseline_env(old), args, args.store) as base:
            # both trees serve at once and take turns, so a change of the machine's load between
            # the two measurements does not decide the ratio
            window = args.seconds / args.rounds
            for r in range(args.rounds):
                for server in ((new, base) if r % 2 == 0 else (base, new)):
                    load(server, args.clients, window, first=r * 10**5)
    for name, r in (("new", new), ("old", base)):
        r["rps"] = r["ok"] / r["wall"]
        cpu, client = r["cpu"] / r["ok"] * 1000, r["client_cpu"] / r["ok"] * 1000
        print(f"  {name}: {r['rps']:.0f} requests/s; server CPU {cpu:.2f} ms per request (all its processes), "
              f"the clients' {client:.2f} ms; a {args.limit}-per-minute credential sent {2 * args.limit}: "
              f"{r['admitted']} admitted, {r['refused']} x 429", flush=True)
    # requests/s depend on what else the shared machine runs; the servers' CPU per request much less
    new_cpu, old_cpu = new["cpu"] / new["ok"] * 1000, base["cpu"] / base["ok"] * 1000
    print(f"  server CPU per request: {new_cpu:.2f} ms against {old_cpu:.2f} ms: {old_cpu / new_cpu:.2f}x less",
          flush=True)
    baseline.row(f"HTTP, one proposal per request, {args.clients} clients, --workers {args.workers} "
                 f"({args.crm}, {args.store.split('@')[-1]})",
                 new["rps"], base["rps"], unit="req/s", target=">= 4x", met=new["rps"] >= 4 * base["rps"])
    print(f"ROW|one credential's limit across {args.workers} workers ({args.limit}/min)|{new['admitted']} admitted|"
          f"{base['admitted']} admitted|-|{args.limit}|{'met' if new['admitted'] == args.limit else 'MISSED'}")


if __name__ == "__main__":
    main()
