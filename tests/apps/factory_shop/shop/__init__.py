"""A small third-party-style app: an application factory, config from the instance folder."""
import os

from flask import Flask, jsonify

VERSION = "1.0.0"


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(SHOP_NAME="factory shop")
    app.config.from_pyfile("settings.py", silent=True)
    os.makedirs(app.instance_path, exist_ok=True)

    @app.get("/")
    def index():
        return f"{app.config['SHOP_NAME']} version {VERSION}"

    @app.get("/health")
    def health():
        return jsonify(ok=True, version=VERSION)

    return app
