"""A src/ layout package with a pinned requirements.txt: importable only once the package is installed."""
from importlib.metadata import version

from flask import Flask

CODE = "one"


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return f"task app {version('task-app')} code {CODE}"

    return app
