"""`frontdesk users add|list|remove`: the dashboard's local accounts, in the clinic database."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from ..config import ConfigError, load_config


def _users(args):
    from tools.db import make_engine
    from tools.users import Users

    cfg = load_config(args.config)
    if getattr(args, "data_dir", None):
        cfg.data_dir = Path(args.data_dir)
    return Users(make_engine(cfg.database_url), cfg.dashboard.lockout_after, cfg.dashboard.lockout_minutes)


def _password(args) -> str:
    from tools.users import UserError

    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password on; use --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the passwords differ")
    return first


def run(args) -> int:
    from tools.users import UserError

    users = _users(args)
    if args.action == "list":
        rows = users.list()
        for u in rows:
            locked = " (locked)" if u.locked_until is not None and u.locked_until > _now() else ""
            print(f"{u.username:24} {u.role:6} created {u.created_at:%Y-%m-%d %H:%M} UTC{locked}")
        if not rows:
            print("no dashboard users; add one with: frontdesk users add NAME --role admin", file=sys.stderr)
        return 0
    if not args.name:
        raise ConfigError(f"users {args.action}: expected a user NAME")
    if args.action == "remove":
        if not users.remove(args.name):
            print(f"frontdesk: no dashboard user {args.name}", file=sys.stderr)
            return 1
        print(f"removed {args.name}")
        return 0
    try:
        users.add(args.name, _password(args), role=args.role, replace=args.replace)
    except UserError as exc:
        print(f"frontdesk: users add: {exc}", file=sys.stderr)
        return 1
    print(f"{'updated' if args.replace else 'added'} {args.role} {args.name}")
    return 0


def _now():
    from tools.records import utcnow

    return utcnow()


def add_parser(sub) -> None:
    u = sub.add_parser("users", help="dashboard accounts: add (staff or admin), list, remove")
    u.add_argument("action", choices=["add", "list", "remove"])
    u.add_argument("name", nargs="?", help="the user name (add, remove)")
    u.add_argument("--role", choices=["staff", "admin"], default="staff", help="staff (default) or admin")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.add_argument("--replace", action="store_true", help="add: replace an existing user (new password or role; unlocks)")
    u.add_argument("--config")
    u.add_argument("--data-dir")
    u.set_defaults(func=run)
