"""Check the app over HTTP from the host itself, through the front server."""
from __future__ import annotations

import json

from ..protocol import FACTS_MARK
from .shell import fail, q, script

# An f-string only for the fact marker (protocol.FACTS_MARK): the probe's own braces are doubled.
_PROBE = rf'''
import http.client, json, sys, time
cfg = json.loads(sys.argv[1])
deadline = time.monotonic() + cfg["timeout"]
last = "no answer"
while True:
    try:
        conn = http.client.HTTPConnection(cfg["address"], cfg["port"], timeout=5)
        conn.request("GET", cfg["path"], headers={{"Host": cfg["host"], "User-Agent": "wsgideploy-health"}})
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace")
        if resp.status == cfg["status"]:
            print("{FACTS_MARK}status=%d" % resp.status)
            print("{FACTS_MARK}body=" + " ".join(body.split())[:200])
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (resp.status, cfg["status"], " ".join(body.split())[:300])
    except OSError as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
    if time.monotonic() > deadline:
        print(last, file=sys.stderr)
        sys.exit(1)
    time.sleep(0.3)
'''


def http_check(port: int, path: str, host_header: str, status: int, timeout: float,
               address: str = "127.0.0.1") -> str:
    """Poll ``http://<address>:<port><path>`` until it answers ``status`` or ``timeout`` passes."""
    cfg = json.dumps({"address": address, "port": port, "path": path, "host": host_header,
                      "status": status, "timeout": timeout})
    return script(f"""
python3 -c {q(_PROBE)} {q(cfg)} || {fail(f"health check of http://{address}:{port}{path} (Host: {host_header}) failed")}
""")
