"""Reading the host recipes (``tasks/recipes/*.sh``) in tests: one function's text."""
from __future__ import annotations

from wsgideploy.commands.recipe import recipe


def function_body(recipe_name: str, name: str) -> str:
    """The text of the function ``name`` of ``<recipe_name>.sh``: its line alone when it is written on
    one line, else from its name to the closing brace at the start of a line."""
    text = recipe(recipe_name)
    start = text.index(f"\n{name}() {{")
    first_line_end = text.index("\n", start + 1)
    if text[start:first_line_end].rstrip().endswith("}"):
        return text[start:first_line_end + 1]
    return text[start:text.index("\n}\n", start) + 3]
