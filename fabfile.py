"""Deploy tasks for `fab` (the same two lines `wsgideploy init` writes); `wsgideploy --list` shows the same."""
from wsgideploy.fab import ns  # noqa: F401
