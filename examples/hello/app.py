"""wsgideploy's bundled example: a small Flask app (``wsgi = "app:app"``)."""
import os
import sys

from flask import Flask, jsonify

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
    return (
        "<!doctype html>\n"
        "<html><head><meta charset=\"utf-8\"><title>hello</title>"
        "<link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n"
        f"<body><h1>Hello from wsgideploy! version {VERSION}</h1></body></html>\n"
    )


@app.route("/info")
def info():
    return jsonify(version=VERSION, prefix=VENV, python=sys.executable, release=RELEASE)


if __name__ == "__main__":
    app.run()
