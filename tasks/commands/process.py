"""Shell functions every app server's control script shares: processes through pidfiles.

They live in ``tasks/recipes/process.sh``; scripts that are still composed as f-strings include
them as text, scripts built with `recipe.Script` name the recipe.
"""
from __future__ import annotations

from .recipe import recipe

PROCESS_FUNCTIONS = recipe("process")
