"""One redaction layer for secrets: header values and free text (logs, exceptions, error bodies).

Every forward token is base64 of JSON that starts ``{"secret_key":"``, so all of them start with the
same base64 prefix; merchant keys start ``aks_live_``/``aks_test_``. Both are scrubbed by pattern,
so even a token minted elsewhere cannot slip through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

REDACTED: Final = "[redacted]"
SENSITIVE_HEADERS: Final = frozenset({
    "authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
    "proxy-authorization",
})
_PATTERNS: Final = re.compile(
    r"eyJzZWNyZXRfa2V5Ijoi[A-Za-z0-9+/=_-]*"  # base64('{"secret_key":"') + rest of a token
    r"|aks_(?:live|test)_[A-Za-z0-9_-]+"  # merchant secret keys
    r"|lava_(?:sk|wk)_[A-Za-z0-9_-]+"  # spend and wallet keys
    r"|(?i:bearer)\s+[A-Za-z0-9+/=._~-]{8,}"  # any bearer credential
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|(?<=[?&])key=[^&#\s\"']+"  # a key in a URL's query (Google's API-key parameter)
)


def redact_text(text: str) -> str:
    return _PATTERNS.sub(REDACTED, text)


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, REDACTED if n.lower() in SENSITIVE_HEADERS else redact_text(v)) for n, v in headers]


class RedactingFilter(logging.Filter):
    """Scrubs every record's rendered message and exception text before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True
