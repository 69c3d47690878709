"""Reloading the configuration while serving: on SIGHUP, and when the config file changes.

Kubernetes updates a mounted ConfigMap by swapping a symlink (``..data``) to a new directory, so
neither inotify on the file nor its mtime alone is reliable; the file is read every
``poll_seconds`` (it is a few KB) and reloaded when its bytes change. A new configuration is
validated in full first (the same ``load_settings`` as at start): a bad one keeps the running
values, logs every problem and counts the failure; a good one is handed to ``apply`` (the app's
``reload``), which applies what can change while serving and names what waits for a restart.

Reading, parsing and validating never run on the event loop (issue 24: an 8 MB file stalled
requests for 3 s there): the poll and the load run in the watcher's one worker thread, a load
within ``LOAD_TIMEOUT``; the file itself is bounded by ``reading.py`` (1 MiB, no YAML aliases).
A load that overruns is refused, and no other starts while its thread is still busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..errors import ConfigError, Problem
from .load import load_settings
from .reading import fingerprint
from .settings import Settings

log = logging.getLogger("lava_sidecar.config")

#: How often the file is read for changes (a ConfigMap update reaches the pod in ~1 min anyway).
POLL_SECONDS: Final = 2.0
#: How long reading and validating a new file may take before the reload is refused (a 1 MiB file
#: takes well under a second; this is for a machine that is starved, or a parser gone wrong).
LOAD_TIMEOUT: Final = 10.0
T = TypeVar("T")


class _Busy(Exception):
    """The worker thread is still on a load that overran: nothing more is queued behind it."""


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the running configuration came from, so it can be read again the same way."""

    path: str
    #: The CLI's ``--listen`` / ``--admin-listen``, applied on every read as at start.
    overrides: tuple[tuple[str, str], ...] = ()

    def load(self) -> Settings:
        return load_settings(self.path, overrides=dict(self.overrides))

    def fingerprint(self) -> bytes | None:
        """A digest of the file (at most its first MiB); None while it cannot be read (mid-swap,
        removed). Blocking: the watcher calls it in its worker thread."""
        return fingerprint(self.path)


Apply = Callable[[Settings], Awaitable[list[str]]]


class ConfigWatcher:
    """Reloads ``source`` into ``apply`` on ``trigger()`` (SIGHUP) and on a change of the file."""

    def __init__(self, source: ConfigSource, apply: Apply, registry: CollectorRegistry, *,
                 poll_seconds: float = POLL_SECONDS, load_timeout: float = LOAD_TIMEOUT) -> None:
        self._source = source
        self._apply = apply
        self._poll = poll_seconds
        self._seen: bytes | None = None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: One thread for every read of the file: a load that overruns holds it, and is not piled on.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="config-reload")
        self._busy: Future[Any] | None = None
        self._load_timeout = load_timeout
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
        # A load still running finishes on its own (bounded by the file's size); nothing waits.
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _in_worker(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the worker thread, within the load timeout (``TimeoutError``); ``_Busy``
        while an earlier call that overran still runs there."""
        if self._busy is not None and not self._busy.done():
            raise _Busy
        future = self._worker.submit(fn)
        self._busy = future
        # asyncio.timeout, not wait_for: on 3.11 wait_for returns the result of a future that is
        # done when its task is cancelled, swallowing the cancellation, so a SIGTERM during a
        # reload left ``aclose`` waiting for this task forever.
        async with asyncio.timeout(self._load_timeout):
            return await asyncio.wrap_future(future)

    async def _run(self) -> None:
        with contextlib.suppress(TimeoutError, _Busy):
            self._seen = await self._in_worker(self._source.fingerprint)
        while True:
            kicked = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._kick.wait()
                    kicked = True
            self._kick.clear()
            try:
                seen = await self._in_worker(self._source.fingerprint)
            except (TimeoutError, _Busy):
                seen = None  # the thread is held by a load that overran: a SIGHUP still reports
            if kicked:
                self._seen = seen if seen is not None else self._seen
                await self.reload("SIGHUP")
            elif seen is not None and seen != self._seen:
                self._seen = seen
                await self.reload("file changed")

    async def reload(self, reason: str) -> bool:
        """Validate and apply the file once; True when the new configuration is running."""
        try:
            new = await self._in_worker(self._source.load)
        except ConfigError as exc:
            return self._refused(reason, exc.problems)
        except (TimeoutError, _Busy) as exc:
            why = "an earlier reload is still reading the file" if isinstance(exc, _Busy) else \
                f"reading and validating the file took over {self._load_timeout:g} s"
            self._reloads.labels("error").inc()
            log.error("configuration reload (%s) refused: %s; the running configuration is kept",
                      reason, why)
            return False
        except Exception as exc:  # a bug in a section's reader: the running config stays all the same
            self._reloads.labels("error").inc()
            log.error("configuration reload (%s) failed (%s); the running configuration is kept",
                      reason, type(exc).__name__)
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

    def _refused(self, reason: str, problems: tuple[Problem, ...]) -> bool:
        self._reloads.labels("error").inc()
        # Each problem is one bounded sentence (``reading.py``, ``fields.Reader.problem``), and
        # there are at most ``load.MAX_PROBLEMS`` + 1 of them: the log stays small whatever the file.
        log.error("configuration reload (%s) failed: %d problem(s); the running configuration "
                  "is kept", reason, len(problems), extra={"problems": [str(p) for p in problems]})
        for p in problems:
            log.error("config problem: %s", p)
        return False
