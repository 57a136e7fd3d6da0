"""The bundled Jinja2 templates, installed as package data (`wsgideploy/templates`)."""
