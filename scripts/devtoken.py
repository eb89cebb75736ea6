"""scripts/dev-token USER [--admin]: print a local HS256 bearer token."""

import argparse
import os

from http_triggers._tokens import issue_dev_token

#: The secret the local stack uses when none is set (local use only; never on Azure).
LOCAL_SECRET = "pixcrawler-local-dev-secret-change-me"


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/dev-token", description=__doc__)
    parser.add_argument("user")
    parser.add_argument("--admin", action="store_true", help="give the token the admin role")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    args = parser.parse_args()
    secret = os.environ.get("PIXCRAWLER_AUTH_HS256_SECRET", LOCAL_SECRET)
    print(issue_dev_token(args.user, secret=secret, admin=args.admin, ttl=args.ttl))


if __name__ == "__main__":
    main()
