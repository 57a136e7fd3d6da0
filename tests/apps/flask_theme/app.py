"""A Flask module app whose static folder lives in another package of the repository (theme), given to
Flask as a computed path: nothing in app.py names a folder the deploy could read without running it."""
from flask import Flask

import theme

app = Flask(__name__, static_folder=theme.STATIC, static_url_path="/static")


@app.get("/")
def index() -> str:
    return "themed"
