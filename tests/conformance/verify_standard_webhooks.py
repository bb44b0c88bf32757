"""Verifies captured webhook deliveries with the reference Standard Webhooks library.

Reads JSON lines {"id", "timestamp", "signature", "body"} from the file named by argv[2] and
verifies each with `standardwebhooks.Webhook(argv[1]).verify(body, headers)` (PyPI
`standardwebhooks`); prints how many verified and exits non-zero on the first failure.
"""

import json
import sys

from standardwebhooks import Webhook


def main() -> int:
    secret, path = sys.argv[1], sys.argv[2]
    hook = Webhook(secret)
    count = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            message = json.loads(line)
            headers = {
                "webhook-id": message["id"],
                "webhook-timestamp": str(message["timestamp"]),
                "webhook-signature": message["signature"],
            }
            payload = hook.verify(message["body"], headers)
            if payload != json.loads(message["body"]):
                print(f"{message['id']}: verified payload differs", file=sys.stderr)
                return 1
            count += 1
    print(f"standardwebhooks verified {count} deliveries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
