"""The site's theme: its static files, shared by the apps that use it."""
import os

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
