"""Reading the config file, bounded: at most ``MAX_CONFIG_BYTES``, YAML without anchors or aliases
and no deeper than ``MAX_DEPTH``; each refusal one sentence that quotes nothing long.

The same reader serves the start, ``check-config`` and every reload (issue 24: an 8 MB file stalled
the proxy for seconds when it was reloaded on the event loop; a 632-byte alias bomb, "billion
laughs", took 1.84 GB and wrote 624 MB to the log, because a safe loader shares an alias's nodes
but anything that walks or prints the value expands them). A config is a few KB: a file past the
cap is refused before it is read; anchors are refused at their first event, before anything is
built. The reload also runs this in a worker thread under a time bound (``watch.py``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Final

import yaml

from ..errors import ConfigError, Problem

#: A config file is a few KB; this is a thousand times that.
MAX_CONFIG_BYTES: Final = 1024 * 1024
#: The sidecar's own sections nest four or five deep.
MAX_DEPTH: Final = 32
#: The libyaml-backed loader when PyYAML was built with it (the wheels are): ~10x faster.
_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_START_EVENTS: Final = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_END_EVENTS: Final = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def read_bounded(path: str | os.PathLike[str], limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The file's bytes; ``ConfigError`` (one sentence) if it cannot be read or is over ``limit``.
    Its size is checked before anything is read, and no more than ``limit`` + 1 bytes ever are
    (a file growing meanwhile)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = b"" if size > limit else f.read(limit + 1)
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read config file: {exc.strerror}")]) from None
    if size > limit or len(data) > limit:
        raise ConfigError([Problem(str(path), (
            f"the config file is {max(size, len(data)):,} bytes, over the sidecar's limit of "
            f"{limit:,} (1 MiB); a config is a few KB, so check that this is the file you meant")
        )])
    return data


def fingerprint(path: str | os.PathLike[str]) -> bytes | None:
    """A digest of the file as ``read_bounded`` sees it (its size and at most the cap's bytes); None
    while it cannot be read (mid-swap, removed)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest = hashlib.sha256(f.read(MAX_CONFIG_BYTES + 1))
    except OSError:
        return None
    digest.update(size.to_bytes(8, "little"))
    return digest.digest()


def parse_yaml(data: bytes, where: str) -> object:
    """The document in ``data``; ``ConfigError`` naming the line for invalid YAML, an anchor or
    alias, or nesting deeper than ``MAX_DEPTH``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(where, f"not UTF-8 text (byte {exc.start:,} cannot be decoded)")]) \
            from None
    try:
        _check_events(text, where)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - the safe loader (C or Python)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError([Problem(where, f"not valid YAML{at}: {_clip(exc.problem or 'unreadable')}")]) \
            from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(where, f"not valid YAML: {_clip(str(exc))}")]) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # A scalar the constructor cannot convert (an int of 100,000 digits, a date out of range).
        raise ConfigError([Problem(where, f"a value in the file cannot be read ({_clip(str(exc))})")]) \
            from None


def load_yaml_file(path: str | os.PathLike[str]) -> object:
    """``read_bounded`` then ``parse_yaml``: the one way the sidecar reads its config file."""
    return parse_yaml(read_bounded(path), str(Path(path)))


def _check_events(text: str, where: str) -> None:
    """Refuse anchors and aliases at the first one, and nesting past ``MAX_DEPTH``, from the event
    stream: nothing has been built yet, so a refusal costs nothing whatever the file would expand to."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if getattr(event, "anchor", None) is not None:
            raise ConfigError([Problem(where, (
                f"YAML anchors and aliases (&name, *name) are not accepted in the sidecar's config "
                f"({_line(event)}): write each value out, since an alias can expand a small "
                "file into gigabytes"))])
        if isinstance(event, _START_EVENTS):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([Problem(where, (
                    f"nested more than {MAX_DEPTH} levels deep ({_line(event)}); the sidecar's "
                    "config nests a few levels at most"))])
        elif isinstance(event, _END_EVENTS):
            depth -= 1


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}" if mark is not None else "somewhere in the file"


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "… (truncated)"
