"""The benchmark's larger app: a Flask app of the usual shape, with about 50 pinned dependencies
(requirements.txt), most of them imported and set up at start, as a real app's factory does.

``wsgi = "app:app"``; the page says ``version <VERSION>`` like examples/hello, so the benchmark can
tell which release serves. Nothing here talks to a network service at start (redis, celery's broker
and sentry are configured, not contacted).
"""
import datetime
import os

import bleach
import celery
import dateutil.parser
import email_validator
import markdown
import marshmallow
import pydantic
import pytz
import redis
import requests
import sentry_sdk
import structlog
import yaml
from dotenv import load_dotenv
from flask import Flask, request
from flask_babel import Babel
from flask_caching import Cache
from flask_cors import CORS
from flask_login import LoginManager, UserMixin
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Mapped, mapped_column

VERSION = "1.0.0"

load_dotenv()
db = SQLAlchemy()
migrate = Migrate()
login = LoginManager()
cache = Cache()
csrf = CSRFProtect()
babel = Babel()
log = structlog.get_logger()
queue = celery.Celery("large", broker=os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0"))
sentry_sdk.init(dsn=os.environ.get("SENTRY_DSN") or None, traces_sample_rate=0.0)


class Note(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(default="")


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


class NoteSchema(marshmallow.Schema):
    text = marshmallow.fields.String(required=True)


class Settings(pydantic.BaseModel):
    timezone: str = "UTC"
    cache_seconds: int = 60


def create_app() -> Flask:
    flask_app = Flask(__name__, instance_relative_config=True)
    settings = Settings()
    flask_app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "benchmark-only"),
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(flask_app.instance_path, "large.db"),
        CACHE_TYPE="SimpleCache", CACHE_DEFAULT_TIMEOUT=settings.cache_seconds,
    )
    db.init_app(flask_app)
    migrate.init_app(flask_app, db)
    login.init_app(flask_app)
    cache.init_app(flask_app)
    csrf.init_app(flask_app)
    babel.init_app(flask_app)
    CORS(flask_app)
    login.user_loader(User)
    flask_app.extensions["redis"] = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    flask_app.extensions["http"] = requests.Session()
    flask_app.extensions["timezone"] = pytz.timezone(settings.timezone)
    return flask_app


app = create_app()


@app.route("/")
def index():
    log.info("index", version=VERSION)
    now = datetime.datetime.now(app.extensions["timezone"]).isoformat()
    body = markdown.markdown(bleach.clean(f"served at *{now}*"))
    return (
        "<!doctype html>\n"
        "<html><head><meta charset=\"utf-8\"><title>large</title>"
        "<link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n"
        f"<body><h1>Hello from the large app! version {VERSION}</h1>{body}</body></html>\n"
    )


@app.route("/check")
def check():
    """Exercises a few of the libraries (the benchmark only asks ``/``)."""
    email = email_validator.validate_email(request.args.get("email", "a@example.com"),
                                           check_deliverability=False).normalized
    when = dateutil.parser.parse(request.args.get("when", "2026-01-01T00:00:00Z")).isoformat()
    return yaml.safe_dump(NoteSchema().load({"text": email + " " + when}))


if __name__ == "__main__":
    app.run()
