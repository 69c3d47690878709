"""A small real filesystem for disk-full tests: a tmpfs mounted by the test (root only), resized to
give space back, unmounted at the end. Skips with the reason when mounting is not possible."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class Volume:
    """A mounted tmpfs of a given size."""

    def __init__(self, where: Path) -> None:
        self.path = where

    def resize(self, size: str) -> None:
        """Give the filesystem more (or less) room, as an operator freeing the disk would."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)],
                       capture_output=True, check=True)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Volume]:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield Volume(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Write ``path`` until the filesystem has at most ``leave`` bytes free."""
    st = os.statvfs(path.parent)
    room = st.f_bavail * st.f_frsize - leave
    with contextlib.suppress(OSError), path.open("wb") as f:
        while room > 0:
            f.write(b"x" * min(room, 4096))
            f.flush()
            room -= 4096
