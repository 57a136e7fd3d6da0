"""The health check through the app's site, as a client would ask it: one probe for HTTP and HTTPS.

``python3 -c SITE_PROBE '<json config>'`` asks ``GET path`` of ``address:port`` with the site's Host header
until the app answers ``status``, the timeout passes, or an answer settles it (`answers.ANSWER_RULE`). With
``tls`` it speaks TLS for the site's name (SNI), verifies the chain and the name against the system's CAs or
``cadata`` (a certificate that does not verify fails at once, as a browser would), and reports the days
until the served certificate expires (``tls_days_left``). Its builders: `health.http_check` and
`https_check.https_check`.
"""
from __future__ import annotations

import json

from ..protocol import FACTS_MARK
from .answers import ANSWER_RULE

# An f-string only for the fact marker (protocol.FACTS_MARK): the probe's own braces are doubled.
SITE_PROBE = rf'''
import json, socket, sys, time
cfg = json.loads(sys.argv[1])
{ANSWER_RULE}
class Refused(Exception):
    pass
if cfg.get("tls"):
    import http.client, ssl
    Refused = ssl.SSLCertVerificationError
    context = ssl.create_default_context(cadata=cfg["cadata"]) if cfg["cadata"] else ssl.create_default_context()
    class SiteConnection(http.client.HTTPSConnection):
        def connect(self):
            raw = socket.create_connection((cfg["address"], cfg["port"]), timeout=5)
            self.sock = context.wrap_socket(raw, server_hostname=cfg["host"])
    def ask():
        conn = SiteConnection(cfg["host"], cfg["port"], timeout=5)
        conn.request("GET", cfg["path"], headers={{"Host": cfg["host"], "User-Agent": "wsgideploy-health"}})
        # before the answer closes the connection
        expires = ssl.cert_time_to_seconds(conn.sock.getpeercert()["notAfter"])
        resp = conn.getresponse()
        return resp.status, resp.read(4096), expires
else:
    # Plain HTTP/1.0 on a socket (no chunked answer; it ends at its Content-Length or when the server closes):
    # http.client, with the ssl and email modules it imports, was half of this check's time on a host.
    def ask():
        request = "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: wsgideploy-health\r\nConnection: close\r\n\r\n"
        with socket.create_connection((cfg["address"], cfg["port"]), timeout=5) as sock:
            sock.sendall((request % (cfg["path"], cfg["host"])).encode("latin-1"))
            data, want = b"", 4096
            while True:
                head, found, body = data.partition(b"\r\n\r\n")
                if found:
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length" and value.strip().isdigit():
                            want = min(4096, int(value))
                    if len(body) >= want:
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if not found or len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
            raise OSError("not an HTTP answer: %r" % data[:100])
        return int(status[1]), body[:4096], None
deadline = time.monotonic() + cfg["timeout"]
last = "no answer"
while True:
    try:
        status, raw, expires = ask()
        body = raw.decode("utf-8", "replace")
        if status == cfg["status"]:
            print("{FACTS_MARK}status=%d" % status)
            if expires is not None:
                print("{FACTS_MARK}tls_days_left=%d" % ((expires - time.time()) // 86400))
            print("{FACTS_MARK}body=" + " ".join(body.split())[:200])
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (status, cfg["status"], " ".join(body.split())[:300])
        if settled(status):
            print(verdict(last, status, cfg["host"]), file=sys.stderr)
            sys.exit(1)
    except Refused as exc:
        print("TLS: %s" % exc.verify_message, file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # ssl.SSLError too
        last = "%s: %s" % (type(exc).__name__, exc)
    if time.monotonic() > deadline:
        print(last, file=sys.stderr)
        sys.exit(1)
    time.sleep(0.3)
'''


def probe_config(address: str, port: int, path: str, host: str, status: int, timeout: float,
                 tls: bool = False, ca_pem: str | None = None) -> str:
    """`SITE_PROBE`'s argument: where to ask, what, and with ``tls`` which CA to trust beside the system's."""
    cfg = {"address": address, "port": port, "path": path, "host": host, "status": status, "timeout": timeout}
    return json.dumps({**cfg, "tls": True, "cadata": ca_pem or ""} if tls else cfg)
