"""crmgate's HubSpot write path vs a plain SDK loop, against the fake enforcing 190 calls / 10 s.

    .venv/bin/python benchmarks/bench_hubspot.py [--records 2000] [--plain-records 400]
        [--sustained-records 20000] [--latency 0.02]

Prints figures; asserts nothing about speed. Three runs on one loopback fake (20 ms latency per call,
the rolling window enforced server-side with 429 + Retry-After):

1. crmgate: ``--records`` deal updates through ``Gate.propose`` (HubSpot rulebook, signed SQLite trail,
   before-images, check-then-write, the app's window in the budget), submitted in batches of 100 proposals.
2. crmgate sustained: ``--sustained-records`` more (0 skips it). 2,000 updates are only 40 calls, which
   fit inside one 190-call window, so the window's ceiling (190 calls / 10 s x 100 records per call /
   2 calls per 100 updates = 950 updates/s) only binds on a longer run like this one.
3. plain: one ``get_by_id`` and one ``update`` per record with hubspot-api-client's deals API, sleeping
   Retry-After on each 429 (what a careful script without a limiter does), for ``--plain-records``
   records; its time for ``--records`` is extrapolated from its measured rate and labelled as such.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crmgate.adapters.hubspot.adapter import HubSpotAdapter  # noqa: E402
from crmgate.gate import Gate  # noqa: E402
from crmgate.rules.loader import parse_rulebook  # noqa: E402
from crmgate.trail import TrailStore, generate_keypair, load_signer  # noqa: E402
from tests.fakes.hubspot_fake import FakeHubSpot  # noqa: E402
from tests.hubspot.conftest import HUBSPOT_RULES  # noqa: E402

TOKEN = "pat-bench-token"
CEILING = 190 / 10 * 100 / 2  # updates per second


def seed(fake: FakeHubSpot, n: int, tag: str) -> list[str]:
    return [fake.seed("deals", {"dealname": f"{tag} {i}", "dealstage": "qualifiedtobuy", "amount": "1000"})
            for i in range(n)]


def run_crmgate(fake: FakeHubSpot, ids: list[str], workdir: Path, label: str) -> dict:
    generate_keypair(workdir / f"{label}.key", workdir / f"{label}.pub")
    store = TrailStore(f"sqlite:///{workdir / f'{label}.db'}", signer=load_signer(workdir / f"{label}.key", env={}))
    adapter = HubSpotAdapter(token=TOKEN, host=fake.url)
    gate = Gate(rulebook=parse_rulebook(HUBSPOT_RULES, source="bench"), adapter=adapter, store=store)
    first = len(fake.calls)
    t0 = time.perf_counter()
    applied = 0
    for start in range(0, len(ids), 100):
        batch = [{"object": "deals", "op": "update", "record_id": rid, "actor": "ai:deal-hygiene",
                  "confidence": 0.9, "fields": {"description": f"{label} pass {start + i}"}}
                 for i, rid in enumerate(ids[start:start + 100])]
        applied += sum(o.status == "applied" for o in gate.propose(batch))
    wall = time.perf_counter() - t0
    calls = fake.calls[first:]
    gate.close()
    return {"records": len(ids), "applied": applied, "calls": len(calls),
            "reads": sum(c.path.endswith("batch/read") for c in calls),
            "updates": sum(c.path.endswith("batch/update") for c in calls),
            "429s": sum(c.status == 429 for c in calls), "wall": wall, "rps": len(ids) / wall,
            "limiter_wait": adapter.calls.waited}


def run_plain(fake: FakeHubSpot, ids: list[str]) -> dict:
    from hubspot import HubSpot
    from hubspot.crm.deals import SimplePublicObjectInput
    from hubspot.crm.deals.exceptions import ApiException

    api = HubSpot(access_token=TOKEN, host=fake.url).crm.deals.basic_api  # built once, fairly
    first = len(fake.calls)
    slept = 0.0

    def call(fn, *args, **kw):
        nonlocal slept
        while True:
            try:
                return fn(*args, **kw)
            except ApiException as exc:
                if exc.status != 429:
                    raise
                wait = float(dict(exc.headers or {}).get("Retry-After", 1))
                slept += wait
                time.sleep(wait)

    t0 = time.perf_counter()
    for i, rid in enumerate(ids):
        call(api.get_by_id, rid, properties=["description", "hs_lastmodifieddate"])
        call(api.update, rid, SimplePublicObjectInput(properties={"description": f"plain pass {i}"}))
    wall = time.perf_counter() - t0
    calls = fake.calls[first:]
    return {"records": len(ids), "applied": len(ids), "calls": len(calls), "429s": sum(c.status == 429 for c in calls),
            "wall": wall, "rps": len(ids) / wall, "slept": slept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--plain-records", type=int, default=400)
    parser.add_argument("--sustained-records", type=int, default=20000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeHubSpot(token=TOKEN, latency=args.latency) as fake:
        work = Path(tmp)
        print(f"fake HubSpot: 190 calls / 10 s enforced, {args.latency * 1000:.0f} ms latency per call")
        gate = run_crmgate(fake, seed(fake, args.records, "gate"), work, "gate")
        time.sleep(10.5)  # let the window empty so each run starts alike
        sustained = None
        if args.sustained_records:
            sustained = run_crmgate(fake, seed(fake, args.sustained_records, "sus"), work, "sustained")
            time.sleep(10.5)
        plain = run_plain(fake, seed(fake, args.plain_records, "plain"))

    extrapolated = args.records / plain["rps"]
    rows = [
        ("updates", gate["records"], plain["records"]),
        ("applied", gate["applied"], plain["applied"]),
        ("API calls", f"{gate['calls']} ({gate['reads']} batch reads + {gate['updates']} batch updates)",
         plain["calls"]),
        ("calls per 100 updates", f"{gate['calls'] / gate['records'] * 100:.1f}",
         f"{plain['calls'] / plain['records'] * 100:.1f}"),
        ("429s received", gate["429s"], plain["429s"]),
        ("wall time (s)", f"{gate['wall']:.2f}", f"{plain['wall']:.2f}"),
        ("records/s", f"{gate['rps']:.0f}", f"{plain['rps']:.1f}"),
        (f"time for {args.records} (s)", f"{gate['wall']:.2f} (measured)",
         f"{extrapolated:.0f} (EXTRAPOLATED from {plain['records']})"),
    ]
    print(f"\n{'':28}{'crmgate':>48}{'plain SDK loop':>40}")
    for label, a, b in rows:
        print(f"{label:28}{a!s:>48}{b!s:>40}")
    print(f"\ncrmgate {gate['records']} updates: {gate['rps']:.0f}/s = {gate['rps'] / CEILING:.0%} of the "
          f"{CEILING:.0f} updates/s window ceiling ({gate['calls']} calls fit in one 190-call window, so this "
          "run is bound by latency and crmgate's own work, not by the window)")
    if sustained:
        s = sustained
        print(f"crmgate sustained {s['records']} updates: {s['calls']} calls ({s['reads']} reads + "
              f"{s['updates']} updates), {s['429s']} x 429, {s['wall']:.1f} s, {s['rps']:.0f}/s = "
              f"{s['rps'] / CEILING:.0%} of the ceiling; limiter waited {s['limiter_wait']:.1f} s")
    print(f"plain loop: {plain['429s']} x 429 answered; it slept {plain['slept']:.0f} s on Retry-After for "
          "PATCHes (urllib3's default retry also sleeps on GET 429s by itself, inside the SDK)")


if __name__ == "__main__":
    main()
