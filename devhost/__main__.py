"""`python -m devhost --app DIR`: run a Durable Functions app on this machine."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .host import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Serve DIR/function_app.py (a df.DFApp) with HTTP triggers, durable "
                    "orchestrations, activities, entities and timers; state in SQLite.")
    parser.add_argument("--app", required=True, type=Path, help="folder of function_app.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--state", type=Path, default=None,
                        help="SQLite state file (default DIR/.devhost/state.sqlite)")
    parser.add_argument("--workers", type=int, default=0,
                        help="orchestrator replay processes (0: one replay thread)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args.app, args.host, args.port, args.state, args.workers)


if __name__ == "__main__":
    sys.exit(main())
