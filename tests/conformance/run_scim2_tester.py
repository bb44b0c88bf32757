"""Runs the scim2-tester conformance suite (PyPI `scim2-tester[httpx2]==0.5.2`) over every
tag against a running SCIM endpoint and prints one line per check.

    python run_scim2_tester.py BASE_URL TOKEN

Exits 0 when every check is SUCCESS or SKIPPED, 1 otherwise. `tests/scim_conformance.rs`
runs it against the binary on SQLite and PostgreSQL.
"""

import collections
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSING = {Status.SUCCESS, Status.SKIPPED}


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    counts = collections.Counter(r.status.name for r in results)
    for r in results:
        print(f"{r.status.name:10} [{r.resource_type or '-'}] {r.title}: {r.reason or ''}")
        if r.status not in PASSING and r.data is not None:
            print(f"           data: {str(r.data)[:600]}")
    print("TOTAL " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0 if all(r.status in PASSING for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
