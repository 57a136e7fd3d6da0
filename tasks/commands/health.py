"""Check the app from the host itself: through the front server (`site_probe.SITE_PROBE`), or an app-server
instance on its own unix socket (`UNIX_PROBE`)."""
from __future__ import annotations

import json

from ..protocol import FACTS_MARK
from ..settings import App
from . import certbot
from .answers import ANSWER_RULE
from .https_check import https_check
from .site_probe import SITE_PROBE, probe_config
from .shell import fail, q, script


def http_check(port: int, path: str, host_header: str, status: int, timeout: float,
               address: str = "127.0.0.1") -> str:
    """Poll ``http://<address>:<port><path>`` until it answers ``status`` or ``timeout`` passes, or an answer
    settles it (`answers.ANSWER_RULE`: the same other status three times in a row)."""
    cfg = probe_config(address, port, path, host_header, status, timeout)
    return script(f"""
python3 -c {q(SITE_PROBE)} {q(cfg)} || {fail(f"health check of http://{address}:{port}{path} (Host: {host_header}) failed")}
""")


def site_check(app: App, timeout: float, https: bool | None) -> str:
    """The app's health check through its site, as a client would reach it: over HTTPS on ``[app.tls]
    port`` with SNI, the chain and the name verified (against ``[app.tls] ca`` when set: it is public)
    when the site serves HTTPS (``https``), else over HTTP on ``listen``. ``https`` None (``status``,
    which reads no facts first): an acme app's host decides by its certificate's marker."""
    address = app.listen_address or "127.0.0.1"
    plain = http_check(app.listen, app.health.path, app.health_host, app.health.status, timeout, address)
    if app.tls is None or https is False:
        return plain
    ca_pem = app.tls.ca.read_text() if app.tls.ca else None
    secure = https_check(app.tls.port, app.health.path, app.health_host, app.health.status, timeout, address, ca_pem)
    if https or app.tls.mode == "files":
        return secure
    return script(f"if [ -e {q(certbot.marker_path(app))} ]; then\n{secure}\nelse\n{plain}\nfi")


# The check of one app-server instance on its own unix socket, before the front server sends it
# anything: argv[1] is the JSON config, argv[2] the socket. It speaks what the front server speaks to
# it (cfg["protocol"]: HTTP, uwsgi or FastCGI) and sends what the front server would send.
UNIX_PROBE = rf"""
import json, signal, socket, struct, sys, time
cfg, path = json.loads(sys.argv[1]), sys.argv[2]
{ANSWER_RULE}
env = cfg["environ"]

def exchange(payload):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        sock.close()

def http():
    head = "GET %s HTTP/1.0\r\n" % cfg["path"] + "".join("%s: %s\r\n" % kv for kv in cfg["headers"].items())
    return parse(exchange((head + "\r\n").encode("latin-1")), b"HTTP/")

def uwsgi():
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                    for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    return parse(exchange(struct.pack("<BHB", 0, len(body), 0) + body), b"HTTP/")

def fastcgi():
    def record(kind, content):
        return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content
    def length(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    params = b"".join(length(len(k)) + length(len(v)) + k + v
                      for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    data = exchange(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))
    out, i = b"", 0
    while i + 8 <= len(data):
        _, kind, _, size, pad = struct.unpack("!BBHHB", data[i:i + 7])
        if kind == 6:
            out += data[i + 8:i + 8 + size]
        i += 8 + size + pad
    return parse(out, b"Status:")

def parse(raw, first):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = 200
    if lines[0].startswith("HTTP/"):
        status = int(lines[0].split()[1])
    for line in lines:
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    if not raw:
        raise OSError("the connection closed with no response")
    return status, body.decode("utf-8", "replace")

ask = {{"http": http, "uwsgi": uwsgi, "fastcgi": fastcgi}}[cfg["protocol"]]
# It starts beside the instance (systemd.sh's start_slot), so it may wait for the app to load
# (cfg["load_timeout"]) besides its own timeout. Once the instance is ready (SIGWINCH from start_slot: a
# signal ignored by default, so one that comes too early or too late ends nothing) or has answered, its own
# timeout alone counts from then on, as for a check started after the load.
deadline = time.monotonic() + cfg.get("load_timeout", 0) + cfg["timeout"]
def loaded(*_):
    global deadline
    deadline = min(deadline, time.monotonic() + cfg["timeout"])
signal.signal(signal.SIGWINCH, loaded)
# While the socket is not there yet, or no one listens on it, it looks again every 0.01 s for the first
# 2 s (a connection made once the socket is bound waits there until a worker takes it), then every 0.2 s
# like any other retry.
quick = time.monotonic() + 2
last = "no answer"
while True:
    pause = 0.2
    try:
        status, body = ask()
        loaded()
        if status == cfg["status"]:
            print("{FACTS_MARK}own_socket=HTTP %d" % status)
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (status, cfg["status"], " ".join(body.split())[:300])
        if settled(status):
            last = verdict(last, status, cfg["headers"]["Host"])
            break
    except (OSError, ValueError, IndexError) as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) and time.monotonic() < quick:
            pause = 0.01
    if time.monotonic() > deadline:
        break
    time.sleep(pause)
print("GET %s on %s: %s" % (cfg["path"], path, last), file=sys.stderr)
sys.exit(1)
"""

PROTOCOLS = {"http-unix": "http", "uwsgi-unix": "uwsgi", "fastcgi-unix": "fastcgi"}


def unix_probe_config(upstream: str, path: str, host_header: str, status: int, timeout: float,
                      url_prefix: str = "", load_timeout: float = 0) -> str:
    """The JSON config of `UNIX_PROBE` for an app server reached as ``upstream``: ``path`` as the
    front server passes it (HTTP: the prefix stripped and sent as X-Forwarded-Prefix; uwsgi: the whole
    path, uWSGI's mount strips it; FastCGI: SCRIPT_NAME the prefix, PATH_INFO the rest)."""
    inner = path
    if url_prefix and (path == url_prefix or path.startswith(url_prefix + "/")):
        inner = path[len(url_prefix):]
    headers = {"Host": host_header, "User-Agent": "wsgideploy-health", "X-Forwarded-Proto": "http",
               "X-Forwarded-For": "127.0.0.1"}
    if url_prefix:
        headers["X-Forwarded-Prefix"] = url_prefix
    environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "SERVER_NAME": host_header, "SERVER_PORT": "80",
               "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "REMOTE_ADDR": "127.0.0.1",
               "REMOTE_PORT": "0", "HTTP_HOST": host_header, "HTTP_USER_AGENT": "wsgideploy-health",
               "REQUEST_URI": path, "CONTENT_TYPE": "", "CONTENT_LENGTH": ""}
    if upstream == "fastcgi-unix":
        environ.update(SCRIPT_NAME=url_prefix, PATH_INFO=inner, GATEWAY_INTERFACE="CGI/1.1")
    else:
        environ["PATH_INFO"] = path
    return json.dumps({"protocol": PROTOCOLS[upstream], "path": inner or "/", "headers": headers,
                       "environ": environ, "status": status, "timeout": timeout, "load_timeout": load_timeout})
