"""A port for a server a test starts in another process: outside the kernel's ephemeral range.

Binding port 0 and handing the number on leaves a gap (the child process starting) in which the
kernel may give the same port to any outgoing connection as its local port, from the same
ephemeral range; the server then fails with EADDRINUSE (seen: a quota fleet's replica, while the
other replicas opened their Redis connections). A port below that range is never handed out on
its own, so only an explicit choice elsewhere can take it, and a random pick that binds now makes
that rare.
"""

from __future__ import annotations

import random
import socket


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def listen_port() -> int:
    """A loopback port that is free now and below the ephemeral range (random, bind-checked)."""
    high = min(_ephemeral_low(), 65536)
    low = max(1024, high - 12000)
    for _ in range(200):
        port = random.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # that range is full: what the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
