"""Host-side shell recipes (``*.sh``): package data read by `wsgideploy.commands.recipe`.

Each file is a library of bash functions. It reads the values it needs from variables that the
script sets before it (quoted assignments, see `wsgideploy.commands.recipe.Script`), and names
them at its top with ``: "${name:?}"`` so that shellcheck knows they come from outside.
"""
