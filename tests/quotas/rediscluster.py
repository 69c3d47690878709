"""A real 3-master Redis Cluster on loopback (reference/control-plane.md): three ``redis-server
--cluster-enabled yes`` on free ports, joined with ``redis-cli --cluster create``, each stopped by
its PID. A master can be SIGKILLed and started again on its port and directory: its
``nodes.conf`` brings it back into the cluster with its slots (there are no replicas to fail over).
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from redis.crc import key_slot

from .redisserver import REDIS_SERVER, RedisServer

REDIS_CLI = shutil.which("redis-cli")


def _ask(port: int, *command: str, timeout: float = 0.5) -> bytes:
    """One inline command over a raw socket (no client library between the test and the node)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall((" ".join(command) + "\r\n").encode())
            return s.recv(65536)
    except OSError:
        return b""


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too: an ephemeral port
    from the kernel is often above 55535, where the bus port cannot exist."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNode(RedisServer):
    def start(self, wait: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--loglevel", "warning",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             # Long enough that a master killed for a few seconds is never marked failed (the
             # cluster would then refuse every key); short outages are what the tests make.
             "--cluster-node-timeout", "30000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while not _ask(self.port, "PING").startswith(b"+PONG"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server (cluster) did not answer PING on port {self.port}")
            time.sleep(0.02)


class RedisCluster:
    def __init__(self, workdir: Path, masters: int = 3) -> None:
        if REDIS_SERVER is None or REDIS_CLI is None:
            pytest.skip("redis-server/redis-cli are not installed (.ci/run installs redis-server)")
        self.nodes = []
        for i in range(masters):
            d = workdir / f"node{i}"
            d.mkdir(parents=True)
            self.nodes.append(ClusterNode(d, cluster_port()))

    @property
    def url(self) -> str:
        """Any one node: the client reads the slot map from it."""
        return self.nodes[0].url

    def start(self, wait: float = 30.0) -> None:
        for n in self.nodes:
            for attempt in range(3):  # another process may take a port between choice and bind
                try:
                    n.start()
                    break
                except RuntimeError:
                    n.kill()
                    if attempt == 2:
                        raise
                    n.port = cluster_port()
        subprocess.run([str(REDIS_CLI), "--cluster", "create",
                        *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self.wait_ok(wait)

    def wait_ok(self, wait: float = 30.0) -> None:
        deadline = time.monotonic() + wait
        while not all(b"cluster_state:ok" in _ask(n.port, "CLUSTER", "INFO") for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def owner(self, key: str) -> int:
        """Index of the master that holds ``key``'s slot."""
        slot = key_slot(key.encode())
        for i, n in enumerate(self.nodes):
            if self._serves(n.port, slot):
                return i
        raise AssertionError(f"no master owns slot {slot}")

    @staticmethod
    def _serves(port: int, slot: int) -> bool:
        text = _ask(port, "CLUSTER", "NODES").decode(errors="replace")
        for line in text.splitlines():
            if "myself" in line:
                for part in line.split()[8:]:
                    lo, _, hi = part.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return True
        return False

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def customers_on_distinct_masters(cluster: RedisCluster, prefix: str, n: int) -> list[str]:
    """``n`` customer ids whose ``{customer}`` keys live on ``n`` different masters."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        name = f"{prefix}{i}"
        owner = cluster.owner("{" + name + "}")
        found.setdefault(owner, name)
        i += 1
    return list(found.values())
