"""Where things live on a host. Pure: paths only, no I/O."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """The directory layout under an app's ``root`` on the host.

    ``releases/<id>/`` one per deploy, ``current`` the live one (a symlink),
    ``shared/`` data that survives every deploy, ``venvs/<key>/`` one virtualenv
    per requirements key, ``.deploy/`` the tool's own bookkeeping.
    """

    root: str

    @property
    def releases(self) -> str:
        return f"{self.root}/releases"

    @property
    def current(self) -> str:
        return f"{self.root}/current"

    @property
    def shared(self) -> str:
        return f"{self.root}/shared"

    @property
    def run(self) -> str:
        return f"{self.root}/shared/run"

    @property
    def log(self) -> str:
        return f"{self.root}/shared/log"

    @property
    def venvs(self) -> str:
        return f"{self.root}/venvs"

    @property
    def deploy_dir(self) -> str:
        return f"{self.root}/.deploy"

    @property
    def bundled_pip(self) -> str:
        """Where the pip that fills new venvs is unpacked (``pip-<version>/``), from the wheel Python bundles."""
        return f"{self.deploy_dir}/pip"

    @property
    def cache_dir(self) -> str:
        """The host's wheel cache for venv builds (``pip/``, ``uv/``), kept across releases and venvs."""
        return f"{self.root}/.cache"

    def release(self, release_id: str) -> str:
        return f"{self.releases}/{release_id}"

    def venv(self, key: str) -> str:
        return f"{self.venvs}/{key}"

    # Files the app server and proxy configs refer to. They sit under
    # ``current`` or ``shared`` so that they never name a release id.
    @property
    def config_dir_name(self) -> str:
        return ".wsgideploy"

    @property
    def live_config_dir(self) -> str:
        return f"{self.current}/{self.config_dir_name}"
