"""A pyproject-only package (no requirements.txt) with a factory and an SQLite DB in instance/."""
import os
import sqlite3

from flask import Flask, g

VERSION = "0.3.0"


def create_app():
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    db_path = os.path.join(app.instance_path, "notes.sqlite")

    def db():
        if "db" not in g:
            g.db = sqlite3.connect(db_path)
            g.db.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
        return g.db

    @app.teardown_appcontext
    def close(_exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.get("/")
    def index():
        count = db().execute("SELECT COUNT(*) FROM notes").fetchone()[0]
        return f"notes version {VERSION}: {count} notes"

    @app.post("/add")
    def add():
        db().execute("INSERT INTO notes VALUES ('hello')")
        db().commit()
        return "added"

    return app
