"""A wrapper for secret strings (merchant key, forward tokens) that never prints its value, and the
one reader of the merchant key from the environment (``LAVA_SECRET_KEY``, else the file
``LAVA_SECRET_KEY_FILE`` names), shared by every command so each honours both the same way and
says the same sentence when it cannot (issue 23: four readers had drifted apart)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

#: A secret file holds one key: a few hundred bytes at most.
MAX_SECRET_FILE_BYTES: Final = 64 * 1024
#: Said by every command that needs the merchant key and finds none.
NO_MERCHANT_KEY: Final = ("no Lava secret key: set LAVA_SECRET_KEY (or LAVA_SECRET_KEY_FILE for a "
                          "mounted secret)")


class Secret:
    """Holds a secret; ``repr``/``str`` show only a kind hint, ``reveal()`` gives the value.

    >>> s = Secret("aks_live_abcdef")
    >>> s
    Secret('aks_live_…')
    >>> s.reveal()
    'aks_live_abcdef'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: Final = value

    def reveal(self) -> str:
        return self._value

    def hint(self) -> str:
        """The key's public prefix (``aks_live_``/``aks_test_``), useful in messages, never more."""
        for prefix in ("aks_live_", "aks_test_", "lava_sk_", "lava_wk_"):
            if self._value.startswith(prefix):
                return prefix + "…"
        return "…"

    def __repr__(self) -> str:
        return f"Secret({self.hint()!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:  # pragma: no cover - refusing to pickle is the point
        raise TypeError("Secret values are not picklable")


class SecretFileError(ValueError):
    """A secret file that cannot give a key; the message is one sentence naming the file, never
    its content."""


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… (truncated)"


def read_secret_file(path: str, label: str = "secret file") -> Secret:
    """The one key ``path`` holds, whitespace stripped; ``SecretFileError`` saying why not (cannot
    be read, over 64 KiB, not UTF-8, empty). ``label`` names the file's role in the sentence."""
    where = f"{label} {_clip(path)}"
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretFileError(f"cannot read {where}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise SecretFileError(f"{where} is over {MAX_SECRET_FILE_BYTES // 1024} KiB; it should hold "
                              "one key")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{where} is not UTF-8 text") from None
    if not value:
        raise SecretFileError(f"{where} is empty")
    return Secret(value)


def merchant_key_from_env(env: Mapping[str, str] | None = None) -> Secret | None:
    """``LAVA_SECRET_KEY`` when set (and not blank), else the key in the file
    ``LAVA_SECRET_KEY_FILE`` names, else ``None``. A named file that gives no key raises
    ``SecretFileError``: a mounted secret that is missing or empty is a mistake to report, never
    a reason to fall back to something else."""
    env = os.environ if env is None else env
    value = env.get("LAVA_SECRET_KEY", "").strip()
    if value:
        return Secret(value)
    path = env.get("LAVA_SECRET_KEY_FILE", "").strip()
    if path:
        return read_secret_file(path, "LAVA_SECRET_KEY_FILE")
    return None
