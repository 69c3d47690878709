"""``python -m soak`` (``make soak``; ``make soak-smoke`` for the short CI run)."""

from __future__ import annotations

import sys

from .run import main

sys.exit(main())
