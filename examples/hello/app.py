"""wsgideploy's bundled example: a small Flask app (``wsgi = "app:app"``)."""
import os
import sys

from flask import Flask, jsonify, request, url_for

VERSION = "1.0.0"

# The release directory this code was loaded from (``<root>/releases/<id>`` when deployed):
# tests use it to tell which release is serving.
RELEASE = os.path.basename(os.path.realpath(os.path.dirname(os.path.abspath(__file__))))
# The virtualenv this process runs in, resolved when the code was loaded
# (``<root>/venvs/<key>`` when deployed): which venv is serving.
VENV = os.path.realpath(sys.prefix)

app = Flask(__name__)


@app.route("/")
def index():
    app.logger.info("index served, version %s", VERSION)
    return (
        "<!doctype html>\n"
        "<html><head><meta charset=\"utf-8\"><title>hello</title>"
        "<link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n"
        f"<body><h1>Hello from wsgideploy! version {VERSION}</h1></body></html>\n"
    )


@app.route("/info")
def info():
    return jsonify(version=VERSION, prefix=VENV, python=sys.executable, release=RELEASE, pid=os.getpid())


@app.route("/whoami")
def whoami():
    # Behind the proxy, wsgideploy's ProxyFix makes these the client's, not nginx's.
    app.logger.warning("whoami asked by %s", request.remote_addr)
    return jsonify(remote_addr=request.remote_addr, scheme=request.scheme,
                   external_url=url_for("index", _external=True))


if __name__ == "__main__":
    app.run()
