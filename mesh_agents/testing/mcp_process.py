"""Run an MCP server over streamable HTTP in a child process and wait until it listens.

The server must log one line containing ``listening on http://HOST:PORT/PATH`` once its
socket accepts connections, as ``mcp_servers.server.run_http`` does; the child is
started with port 0 and the URL is read from that line, so no port can be taken by
another process in between. Standard error is kept for tests that scan the log.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

__all__ = ["MCPServerProcess"]

_LISTENING = re.compile(r"listening on (http://[\w.\-]+:\d+/\S*)")


class MCPServerProcess:
    """A child process that serves MCP over streamable HTTP.

    Args:
        command: The full command line, for example
            ``[sys.executable, "-m", "mesh_agents", "serve", "--transport", "http", "--port", "0"]``.
        env: Variables for the child on top of this process's environment, from which
            every ``MESH_*`` and ``OTEL_*`` variable is left out, so a developer's
            ``mesh.yaml`` or collector, or a variable another test set, cannot leak in.
        cwd: Working directory of the child.
        ready_timeout_s: Seconds to wait for the ``listening on`` line.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self._command = list(command)
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(("MESH_", "OTEL_"))}
        self._env = {**inherited, **(env or {})}
        self._cwd = cwd
        self._ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self.url = ""

    def start(self) -> MCPServerProcess:
        """Start the child, unless ``launch`` already did, and block until it listens."""
        if self._process is None:
            self.launch()
        return self.wait_ready()

    def launch(self) -> MCPServerProcess:
        """Start the child without waiting, so several servers can start side by side."""
        self._process = subprocess.Popen(
            self._command,
            env=self._env,
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, name="mcp-server-stderr", daemon=True)
        self._reader.start()
        return self

    def wait_ready(self) -> MCPServerProcess:
        """Block until the launched child logs its URL.

        Raises:
            RuntimeError: the child exited or did not log its URL within ``ready_timeout_s``;
                the message ends with its last log lines.
        """
        if self.url:
            return self
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"the MCP server did not start within {self._ready_timeout_s} s:\n{self._tail()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.stop()
                raise RuntimeError(f"the MCP server exited before listening:\n{self._tail()}")
            match = _LISTENING.search(line)
            if match:
                self.url = match.group(1)
                return self

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Ask the child to stop (SIGTERM), kill it after ``timeout_s`` seconds, and return its exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._reader is not None:
            self._reader.join(timeout=timeout_s)
        return process.returncode

    def log_lines(self) -> list[str]:
        """Return the lines the child wrote to standard error so far."""
        return list(self._lines)

    def __enter__(self) -> MCPServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def _tail(self, count: int = 20) -> str:
        return "\n".join(self._lines[-count:])
