"""A third-party-shaped Flask module app that keeps its own Invoke ``tasks.py`` beside it.

wsgideploy must deploy it without mistaking that ``tasks.py`` for its own tasks.
"""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "flask-with-tasks ok"
