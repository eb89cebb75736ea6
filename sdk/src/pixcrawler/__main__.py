"""``python -m pixcrawler``: the command line (see :mod:`pixcrawler.cli`)."""

from pixcrawler.cli import main

raise SystemExit(main())
