"""Process logging: JSON or text lines on stderr, every record scrubbed of secrets first."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final

from .config import Logging as LoggingSettings
from .redact import RedactingFilter, redact_text

#: Every logger of the sidecar (and its emulator) is under this name, so one handler here formats
#: and redacts them all; a logger outside it would reach Python's last-resort handler unredacted.
ROOT: Final = "lava_sidecar"
_RESERVED: Final = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_text:
            doc["exc"] = record.exc_text
        elif record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, then the ``extra={...}`` fields as ``key=value``: what the
    JSON line carries as keys (issue 23: with ``format: text`` the ready line had no addresses).
    A field the message already spells out (``key=`` in it) is not repeated."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [(k, v) for k, v in vars(record).items()
                  if k not in _RESERVED and not k.startswith("_") and k not in _FORMATTED]
        if not extras:
            return line
        said = record.getMessage()
        head, sep, tail = line.partition("\n")  # a traceback stays after the fields
        fields = " ".join(f"{k}={_value(v)}" for k, v in extras if f"{k}=" not in said)
        return f"{head} {fields}{sep}{tail}" if fields else line


#: Set on the record by ``logging.Formatter.format`` itself.
_FORMATTED: Final = frozenset({"message", "asctime"})


def _value(value: object) -> str:
    text = redact_text(str(value))
    return json.dumps(text) if not text or any(c.isspace() or c == '"' for c in text) else text


def configure(settings: LoggingSettings) -> None:
    """Install one stderr handler on the sidecar's and aiohttp's loggers (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    level = getattr(logging, settings.level.upper())
    for name in (ROOT, "aiohttp"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(max(level, logging.WARNING) if name == "aiohttp" else level)
        logger.propagate = False
    if settings.access_log:
        logging.getLogger(ROOT + ".access").setLevel(logging.INFO)
