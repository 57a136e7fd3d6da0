"""Run one action on every selected host and turn failures into exit codes."""
from __future__ import annotations

from typing import Callable

from invoke import Context
from invoke.exceptions import Exit

from ..errors import ExitCode, StepFailed
from ..inventory import Host, InventoryError, Stage, UnknownHostError
from ..output import Reporter
from ..steps import HostRun
from ..targets import NoTargetsError, select_targets
from ..transport import ConnectError, HostConnection

Action = Callable[[HostRun], object]


def selected_or_exit(c: Context) -> list[tuple[Stage, Host]]:
    """The selected hosts, or exit 2 with the inventory's own error."""
    try:
        return select_targets(c)
    except (InventoryError, UnknownHostError, NoTargetsError) as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None


def run_on_hosts(c: Context, action: Action, trust_new_host_key: bool = False,
                 stop_on_failure: bool = True, out: Reporter | None = None) -> None:
    """Connect to each selected host in turn (one connection each) and run ``action``.

    With ``stop_on_failure`` the hosts after a failed one are left alone and
    named, so a fleet is never changed further after a failure.
    """
    targets = selected_or_exit(c)
    out = out or Reporter()
    failed: list[tuple[str, ExitCode]] = []
    for index, (stage, host) in enumerate(targets):
        conn = HostConnection(host, stage.ssh, trust_new_host_key=trust_new_host_key)
        try:
            with out.step(host.alias, "connect") as record:
                conn.open()
                record.detail = f"{host.user + '@' if host.user else ''}{host.hostname}:{host.port}"
        except ConnectError as exc:
            out.error(host.alias, str(exc))
            failed.append((host.alias, ExitCode.CONNECT))
        else:
            try:
                action(HostRun(stage=stage, host=host, conn=conn, out=out))
            except StepFailed as exc:
                out.error(host.alias, exc.message)
                failed.append((host.alias, exc.code))
            except ConnectError as exc:  # the connection dropped outside a step
                out.error(host.alias, str(exc))
                failed.append((host.alias, ExitCode.CONNECT))
            finally:
                conn.close()
        if failed and stop_on_failure:
            skipped = [h.alias for _, h in targets[index + 1:]]
            if skipped:
                out.line("", f"not attempted after the failure: {', '.join(skipped)}")
            break
    if failed:
        names = ", ".join(alias for alias, _ in failed)
        raise Exit(f"wsgideploy: failed on {names}", code=failed[0][1])
