"""The server as `make run` starts it: bound to this machine only, and silent towards the internet
when it rejects a cross-origin WebSocket. A real server on 127.0.0.1; a local listener stands in
for the internet (as HTTP(S) proxy), so any look-up is seen without leaving the machine."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Listener:
    """Accepts connections on 127.0.0.1 and records the first bytes of each (a would-be look-up)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.hits: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.hits.append(conn.recv(200))
                except OSError:
                    self.hits.append(b"")


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def websocket_status(port, origin):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode())
        return s.recv(200).split(b"\r\n")[0].decode()


def listening_addresses(port):
    """Local addresses of the sockets listening on `port` (Linux /proc/net/tcp, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture
def server(tmp_path):
    """`python -m cnn_lab_ui.serve` (what `make run` runs) with no --server.address: config.toml's."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp")
    internet = Listener()
    port = free_port()
    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs"), "HTTP_PROXY": internet.url,
           "HTTPS_PROXY": internet.url, "http_proxy": internet.url, "https_proxy": internet.url}
    for name in ("NO_PROXY", "no_proxy"):
        env.pop(name, None)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cnn_lab_ui.serve", "--server.port", str(port)], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/_stcore/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        yield port, internet, log_path
    finally:
        proc.terminate()  # the process this fixture started, by its handle
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_server_listens_on_this_machine_only(server):
    port, _, _ = server
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no other interface


def test_a_rejected_cross_origin_websocket_looks_nothing_up_on_the_internet(server):
    port, internet, log_path = server
    for origin in ("http://evil.example:8000", "http://attacker.test"):
        assert websocket_status(port, origin) == "HTTP/1.1 403 Forbidden"
    assert websocket_status(port, f"http://localhost:{port}") == "HTTP/1.1 101 Switching Protocols"
    time.sleep(0.5)  # a look-up would have been made before the 403 was sent; let the log flush
    log = log_path.read_text()
    assert "Rejecting WebSocket connection" in log
    assert internet.hits == [] and "Did not auto detect external IP" not in log


def test_serving_a_class_is_an_explicit_choice():
    make = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True)
    if make.returncode != 0:
        pytest.skip("make is not available")
    assert "--server.address 127.0.0.1" in make.stdout
    opened = subprocess.run(["make", "-n", "run", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "--server.address 0.0.0.0" in opened and "there is no login" in opened
