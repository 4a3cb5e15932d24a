"""What the HTTP door costs on top of the write path. Prints figures; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_http.py [--n 1000]

On the embedded sandbox with the signed SQLite trail, N Lead creates:

* ``Gate.propose`` directly, one proposal per call, and all N in one call;
* ``crmgate serve`` as a real process on 127.0.0.1, over one keep-alive HTTP connection: one
  proposal per request, and all N in one request (authentication, the request limit, JSON in and
  out, the outcome's fixes);
* the same single-proposal requests refused at the door (a token without the propose scope), to
  show what a refusal costs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crmgate.config import load_config  # noqa: E402
from crmgate.doors.api import open_service  # noqa: E402
from crmgate.project.scaffold import init_project  # noqa: E402


def lead(i: int) -> dict:
    return {"object": "Lead", "op": "create",
            "fields": {"LastName": f"Lead {i}", "Company": f"Company {i % 97}", "Country": "DE"}}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "proj"
        init_project(project, seed=False)
        config = load_config(project / "crmgate.yaml")
        with open_service(config) as service:
            gate = service.gate
            direct_one = timed(lambda: [gate.propose({**lead(i), "actor": "ai:lead-intake-1"}) for i in range(n)])
            direct_all = timed(lambda: gate.propose([{**lead(i), "actor": "ai:lead-intake-1"} for i in range(n)]))
            _c, token = service.credentials.create("ai:lead-intake-1", ["propose"], by="bench", rate_limit=10**9)
            _c, reader = service.credentials.create("ai:lead-intake-1", ["read"], by="bench", rate_limit=10**9)
        proc = subprocess.Popen([str(Path(sys.executable).with_name("crmgate")), "--config",
                                 str(project / "crmgate.yaml"), "serve", "--port", "0"],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env={k: v for k, v in os.environ.items() if k != "CRMGATE_TRAIL_KEY"})
        try:
            url = None
            for line in proc.stderr:  # uvicorn names the port it bound
                if "Uvicorn running on" in line:
                    url = line.split("Uvicorn running on ", 1)[1].split()[0]
                    break
            if url is None:
                raise SystemExit("crmgate serve did not start")
            # keep reading its log (one access line per request), or a full pipe would stall it
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            with httpx.Client(base_url=url, timeout=60) as http:
                def post(tok: str, items: list[dict]) -> httpx.Response:
                    return http.post("/v1/proposals", json={"proposals": items},
                                     headers={"Authorization": f"Bearer {tok}"})

                http_one = timed(lambda: [post(token, [lead(i)]).raise_for_status() for i in range(n)])
                http_all = timed(lambda: post(token, [lead(i) for i in range(n)]).raise_for_status())
                refused = timed(lambda: [post(reader, [lead(i)]) for i in range(n)])
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    print(f"{n} Lead creates on the sandbox, signed SQLite trail")
    print(f"{'path':52} {'total s':>8} {'ms each':>8} {'per s':>7}")
    for name, secs in [("Gate.propose, one proposal per call", direct_one),
                       ("HTTP POST /v1/proposals, one proposal per request", http_one),
                       ("HTTP refused at the door (403 missing_scope)", refused),
                       ("Gate.propose, all in one call", direct_all),
                       ("HTTP POST /v1/proposals, all in one request", http_all)]:
        print(f"{name:52} {secs:>8.2f} {secs / n * 1000:>8.2f} {n / secs:>7.0f}")
    print(f"HTTP door per single-proposal request: +{(http_one - direct_one) / n * 1000:.2f} ms")


if __name__ == "__main__":
    main()
