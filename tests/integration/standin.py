"""A stand-in app for the TLS site tests: an HTTP server on the unix socket a site's upstream names,
answering every GET with the request's path and headers as JSON (Python's standard library only, so it
runs on a booted server with no venv). Started as a transient systemd unit; it goes with the server."""
from __future__ import annotations

from tests.servers.machine import Server

ECHO_APP = """\
import http.server, json, os, socketserver, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def address_string(self):
        return "unix"
class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Echo)
os.chmod(path, 0o666)
server.serve_forever()
"""


def start_echo(server: Server, socket: str) -> None:
    """Run the echo app as the unit ``echo-upstream`` on ``socket`` (its folder made) and wait for it."""
    folder = socket.rsplit("/", 1)[0]
    server.run(f"install -d {folder} && cat > /root/echo.py", input=ECHO_APP)
    server.run(f"systemd-run --unit=echo-upstream python3 /root/echo.py {socket} && "
               f"for i in $(seq 50); do test -S {socket} && exit 0; sleep 0.1; done; exit 1")
