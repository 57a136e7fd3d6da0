"""``python3 -m tests.sandbox up [--local] | down | status | url``: the quickstart's deploy target.

By default ``up`` boots a Debian 12 server with systemd-nspawn (`tests.sandbox.booted`): nothing is
installed on this machine but a bridge, a proxy and an overlay mount, all removed by ``down``. On a
machine that cannot boot one, ``up --local`` makes this machine the host instead (`tests.sandbox.local`:
a deploy user, a loopback sshd and a private nginx prefix). Every command says which kind it runs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tests.hosts.processes import ProvisionError
from tests.sandbox import booted, inventory_file, local

SERVER_STATE_DIR = Path("/var/lib/wsgideploy-sandbox-server")


def _require_root(argv: list[str]) -> None:
    if os.geteuid() != 0:
        raise SystemExit("wsgideploy sandbox: must run as root (it mounts, makes a bridge or a user). "
                         f"Run: sudo {sys.executable} -m tests.sandbox {' '.join(argv)}")


def up_server() -> int:
    if local.State.load() is not None:
        print("wsgideploy sandbox: the local sandbox is up; run `python3 -m tests.sandbox down` first.",
              file=sys.stderr)
        return 1
    state = booted.BootedState.load(SERVER_STATE_DIR / "state.json")
    if state is not None and state.running():
        print(f"wsgideploy sandbox (booted server): already up at {state.address}; keeping it.")
    else:
        if state is not None:
            booted.down(SERVER_STATE_DIR)  # a server that stopped: start over
        print(booted.plan_text(SERVER_STATE_DIR, inventory_file.INVENTORY), flush=True)
        try:
            state = booted.up(SERVER_STATE_DIR)
        except Exception as exc:  # noqa: BLE001 - report any failure, then point at `down`
            print(f"wsgideploy sandbox: up FAILED: {exc}", file=sys.stderr)
            print("Run `python3 -m tests.sandbox down` to remove what was created.", file=sys.stderr)
            return 1
        for path in (Path(state.identity), Path(state.known_hosts)):
            inventory_file.give_to_invoker(path)
    inventory_file.write(booted.inventory_data(state), state.created_at,
                         f"wsgideploy -H sandbox deploy, then curl {booted.url(state)}")
    print(f"  {inventory_file.INVENTORY}: written and validated")
    print()
    print("The sandbox (a booted Debian 12 server) is up. Next:")
    print("  wsgideploy -H sandbox deploy")
    print(f"  curl {booted.url(state)}")
    print("  python3 -m tests.sandbox down")
    return 0


def down() -> int:
    removed = booted.down(SERVER_STATE_DIR)
    if removed:
        gone, notes = inventory_file.remove()
        print("wsgideploy sandbox (booted server): removed")
        for item in removed + gone:
            print(f"  - {item}")
        for note in notes:
            print(f"  note: {note}")
    if local.State.load() is not None or not removed:
        return local.down()
    return 0


def status() -> int:
    state = booted.BootedState.load(SERVER_STATE_DIR / "state.json")
    if state is not None:
        print(f"wsgideploy sandbox (booted server, created {state.created_at}):")
        print("\n".join(booted.status_lines(state)))
        present = "present" if inventory_file.INVENTORY.exists() else "MISSING"
        print(f"  inventory  {inventory_file.INVENTORY}  {present}")
        return 0 if state.running() else 1
    return local.status()


def url() -> int:
    """Print the URL the deployed example app answers on."""
    state = booted.BootedState.load(SERVER_STATE_DIR / "state.json")
    if state is not None:
        print(booted.url(state))
        return 0
    local_state = local.State.load()
    if local_state is not None:
        print(f"http://127.0.0.1:{local_state.http_port}/")
        return 0
    print("wsgideploy sandbox: down", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.sandbox",
        description="The quickstart's deploy target: a booted Debian 12 server (systemd-nspawn), or with "
                    "`up --local` this machine itself (a deploy user, a loopback sshd, a private nginx). Needs root.")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="boot the sandbox server (prints what it changes first); idempotent")
    up_parser.add_argument("--local", action="store_true",
                           help="no server: make this machine the host (a user, an sshd, an nginx prefix)")
    sub.add_parser("down", help="stop the sandbox's processes by pid and remove everything it created")
    sub.add_parser("status", help="which kind of sandbox is up, and whether it runs")
    sub.add_parser("url", help="the URL the deployed example app answers on")
    args = parser.parse_args(argv)
    if args.command != "url":
        _require_root(argv)
    try:
        if args.command == "up" and args.local:
            if booted.BootedState.load(SERVER_STATE_DIR / "state.json") is not None:
                print("wsgideploy sandbox: the sandbox server is up; run `python3 -m tests.sandbox down` first.",
                      file=sys.stderr)
                return 1
            return local.up()
        if args.command == "up":
            return up_server()
        return {"down": down, "status": status, "url": url}[args.command]()
    except ProvisionError as exc:
        print(f"wsgideploy sandbox: {exc}", file=sys.stderr)
        return 1
