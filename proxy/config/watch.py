"""Reloading the configuration while serving: on SIGHUP, and when the config file changes.

Kubernetes updates a mounted ConfigMap by swapping a symlink (``..data``) to a new directory, so
neither inotify on the file nor its mtime alone is reliable; the file is read every
``poll_seconds`` (it is a few KB) and reloaded when its bytes change. A new configuration is
validated in full first (the same ``load_settings`` as at start): a bad one keeps the running
values, logs every problem and counts the failure; a good one is handed to ``apply`` (the app's
``reload``), which applies what can change while serving and names what waits for a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..errors import ConfigError
from .load import load_settings
from .settings import Settings

log = logging.getLogger("lava_sidecar.config")

#: How often the file is read for changes (a ConfigMap update reaches the pod in ~1 min anyway).
POLL_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the running configuration came from, so it can be read again the same way."""

    path: str
    #: The CLI's ``--listen`` / ``--admin-listen``, applied on every read as at start.
    overrides: tuple[tuple[str, str], ...] = ()

    def load(self) -> Settings:
        return load_settings(self.path, overrides=dict(self.overrides))

    def fingerprint(self) -> bytes | None:
        """A digest of the file's bytes; None while it cannot be read (mid-swap, removed)."""
        try:
            return hashlib.sha256(Path(self.path).read_bytes()).digest()
        except OSError:
            return None


Apply = Callable[[Settings], Awaitable[list[str]]]


class ConfigWatcher:
    """Reloads ``source`` into ``apply`` on ``trigger()`` (SIGHUP) and on a change of the file."""

    def __init__(self, source: ConfigSource, apply: Apply, registry: CollectorRegistry, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self._source = source
        self._apply = apply
        self._poll = poll_seconds
        self._seen = source.fingerprint()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reloads = Counter(
            "lava_sidecar_config_reloads", "Configuration reloads, by result (error: the new file "
            "did not validate and the running configuration was kept).", ["result"],
            registry=registry)
        for result in ("ok", "error"):
            self._reloads.labels(result)
        self._last_ok = Gauge(
            "lava_sidecar_config_last_reload_success_timestamp_seconds",
            "When the running configuration was last loaded successfully (start or reload).",
            registry=registry)
        self._last_ok.set(time.time())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="config-watch")

    def trigger(self) -> None:
        """Reload now (SIGHUP): even when the file's bytes did not change (a secret file did)."""
        self._kick.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            kicked = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._kick.wait()
                    kicked = True
            self._kick.clear()
            seen = self._source.fingerprint()
            if kicked:
                self._seen = seen
                await self.reload("SIGHUP")
            elif seen is not None and seen != self._seen:
                self._seen = seen
                await self.reload("file changed")

    async def reload(self, reason: str) -> bool:
        """Validate and apply the file once; True when the new configuration is running."""
        try:
            new = self._source.load()
        except ConfigError as exc:
            self._reloads.labels("error").inc()
            log.error("configuration reload (%s) failed: %d problem(s); the running configuration "
                      "is kept", reason, len(exc.problems),
                      extra={"problems": [str(p) for p in exc.problems]})
            for p in exc.problems:
                log.error("config problem: %s", p)
            return False
        try:
            later = await self._apply(new)
        except Exception as exc:  # e.g. a quota backend that cannot be built: keep serving
            self._reloads.labels("error").inc()
            log.error("configuration reload (%s) could not be applied (%s); the running "
                      "configuration is kept", reason, type(exc).__name__)
            return False
        self._reloads.labels("ok").inc()
        self._last_ok.set(time.time())
        log.info("configuration reloaded (%s): quotas and identity.api_keys now apply", reason)
        if later:
            log.warning("configuration reload: %s changed but take effect only at restart",
                        ", ".join(sorted(later)))
        return True
