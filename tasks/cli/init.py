"""``init``: write a first stage file, a fabfile and ``.wsgideploy/.gitignore`` for the app
in this repository, from what `wsgideploy.detect` finds there. Never overwrites a file."""
from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode

HELP = {
    "stage": "The stage to write: deploy/<stage>.toml (default: production).",
    "host": "The server's hostname or IP address (default: a placeholder to edit, web1.example.com).",
}


@task(help=HELP, auto_shortflags=False)  # -h is help and -H the hosts: no -h for --host
def init(c: Context, stage: str = "production", host: str | None = None) -> None:
    """Write deploy/<stage>.toml, fabfile.py and .wsgideploy/.gitignore for this repository's app; never overwrites."""
    # Imported here: task modules import only Invoke at load time (see collection.py).
    from ..detect import DetectError, detect, repository_root
    from ..init_files import FABFILE, GITIGNORE, STAGE_NAME, next_steps, stage_file, summary
    from ..inventory import InventoryError, load_stage

    if not STAGE_NAME.fullmatch(stage):
        raise Exit(f"wsgideploy: --stage must be lowercase letters, digits, '-' or '_', not {stage!r}",
                   code=ExitCode.USAGE)
    root = repository_root(Path.cwd())
    stage_path, fabfile = root / "deploy" / f"{stage}.toml", root / "fabfile.py"
    existing = [_shown(p, root) for p in (stage_path, fabfile) if p.exists() or p.is_symlink()]
    if existing:
        raise Exit(f"wsgideploy: {' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''} in {root}; "
                   "init never overwrites a file (nothing was written)", code=ExitCode.USAGE)
    try:
        detected = detect(root)
    except DetectError as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None
    alias = free_alias(stage_path.parent)
    files = {stage_path: stage_file(detected, stage, host, alias), fabfile: FABFILE,
             root / ".wsgideploy" / ".gitignore": GITIGNORE}
    written = write_new(files)
    try:
        load_stage(stage_path)
    except InventoryError as exc:
        remove(written)
        raise Exit(f"wsgideploy: {exc}\nnothing was written", code=ExitCode.USAGE) from None
    print("\n".join(summary(detected)))
    print("Wrote:")
    print("\n".join(f"  {_shown(p, root)}" for p in written if p.is_file()))
    print("\n".join(next_steps(stage, alias)))


def free_alias(deploy_dir: Path) -> str:
    """``web1``, or the first of web2, web3, ... that no stage file in ``deploy_dir`` uses
    (aliases are unique across stages, so ``-H`` always means one host)."""
    taken: set[str] = set()
    for path in sorted(deploy_dir.glob("*.toml")):
        try:
            hosts = tomllib.loads(path.read_text()).get("hosts", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # a broken stage file is inventory.check's to report, not init's
        if isinstance(hosts, dict):
            taken |= set(hosts)
    return next(alias for n in itertools.count(1) if (alias := f"web{n}") not in taken)


def write_new(files: dict[Path, str]) -> list[Path]:
    """Create each file that does not exist yet (its folder too), in order; the paths created.

    Files are created exclusively: one that appeared since the check is kept as it is.
    """
    created: list[Path] = []
    for path, text in files.items():
        if not path.parent.exists():  # deploy/ and .wsgideploy/ sit directly in the root
            path.parent.mkdir()
            created.append(path.parent)
        try:
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            continue
        created.append(path)
    return created


def remove(created: list[Path]) -> None:
    """Undo `write_new`: remove the files, then the (then empty) folders it created."""
    for path in reversed(created):
        if path.is_dir():
            try:
                path.rmdir()
            except OSError:  # not empty: something else was put there since; keep it
                pass
        else:
            path.unlink(missing_ok=True)


def _shown(path: Path, root: Path) -> str:
    """``path`` as the user sees it: relative to the repository root."""
    return path.relative_to(root).as_posix()
