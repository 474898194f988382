"""The `frontdesk` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from .config import ConfigError, load_config


def _cmd_serve(args) -> int:
    from .app import serve

    cfg = load_config(args.config)
    if cfg.privacy.log_format == "json":
        from .logs import setup_logging
        setup_logging(args.verbose, "json")
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise ConfigError(f"--port: expected 0-65535, got {args.port}")
        cfg.sip.port = args.port
    if args.data_dir:
        from pathlib import Path
        cfg.data_dir = Path(args.data_dir)
    if args.dashboard_port is not None:
        if not 0 <= args.dashboard_port <= 65535:
            raise ConfigError(f"--dashboard-port: expected 0-65535, got {args.dashboard_port}")
        cfg.dashboard.port = args.dashboard_port
    if args.drain:
        return _drain(cfg)
    private_data_dir(cfg)
    if cfg.privacy.encrypt:  # a missing or bad key stops the server here, in one line
        from .report_cli import open_store
        open_store(cfg)
    if args.app == "agent":
        from .engines import model_path
        for role in ("asr", "tts", "llm"):
            model_path(cfg, role)  # fail early, in one line, when a model is missing
    asyncio.run(serve(cfg, ready_file=args.ready_file, app=args.app, hangup_after_s=args.hangup_after))
    return 0


def private_data_dir(cfg) -> None:
    """Everything the server writes (database, WAL, recordings, caches, logs) is for this user
    only: files 0600, folders 0700. A data folder that other users can already read is refused
    (its files may be readable too), unless storage.data_dir_shared says it is meant to be."""
    import stat

    os.umask(0o077)
    d = cfg.data_dir
    if d.exists():
        mode = stat.S_IMODE(d.stat().st_mode)
        if mode & 0o077 and not cfg.data_dir_shared:
            raise ConfigError(f"storage.data_dir: {d} can be read by other users (mode {mode:o}); it holds "
                              f"patient data. Run: chmod 700 {d} (and chmod -R go-rwx {d}), or set "
                              "storage.data_dir_shared = true if that is intended")
    else:
        d.mkdir(parents=True, mode=0o700)


def _drain(cfg) -> int:
    """Tell the server running on this data directory to finish its calls and stop (SIGUSR2)."""
    import signal
    import time

    pid_file = cfg.data_dir / "frontdesk.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGUSR2)
    except (OSError, ValueError):
        print(f"frontdesk: no running server for {cfg.data_dir} ({pid_file})", file=sys.stderr)
        return 1
    print(f"draining server {pid}: live calls finish, new calls get 503", flush=True)
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped by its parent
                    raise ProcessLookupError
        except OSError:
            print("drained and stopped")
            return 0
        time.sleep(0.5)


def _cmd_call(args) -> int:
    from .caller import place_call, print_transcript, write_result

    if args.persona:
        from .persona.run import run_persona
        from .persona.spec import PersonaError
        try:
            data = run_persona(args.uri, args.persona, json_path=args.json, config=args.config, data_dir=args.data_dir,
                               seed_existing=args.seed, transport=args.transport, answer_timeout=args.timeout)
        except PersonaError as exc:
            print(f"frontdesk: persona error: {exc}", file=sys.stderr)
            sys.stdout.flush()
            os._exit(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if data["ok"] else 1)

    result = place_call(args.uri, args.say or [], dtmf=args.dtmf or "", transport=args.transport,
                        answer_timeout=args.timeout, transcribe=not args.no_transcribe, caller_id=args.caller_id,
                        refuse_transfer=args.refuse_transfer, teardown=False, barge_in_ms=args.barge_in_ms,
                        echo_db=args.echo_db, echo_delay_ms=args.echo_delay_ms, hold_after=args.hold_after,
                        hold_s=args.hold_s, srtp=args.srtp)
    write_result(result, args.json)
    print_transcript(result)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if result.ok else 1)  # skip pjsua2's teardown (see caller.place_call)


def _cmd_calendar(args) -> int:
    from .calendar_cli import run

    if args.what in ("import", "export") and not args.file:
        raise ConfigError(f"calendar {args.what}: expected a FILE.ics argument")
    return run(args)


def _cmd_models(args) -> int:
    from models import store

    if args.action == "list":
        base = store.default_models_dir()
        defaults = {store.model_for_role(r).name for r in ("asr", "tts", "llm")}
        for m in store.load_manifest():
            size = sum(f.size for f in m.files)
            installed = all((base / m.dir / f.name).exists() for f in m.files)
            role = "default" if m.name in defaults else "alternative"
            print(f"{m.role:4} {m.name:38} {size / 1e6:7.1f} MB  {'installed' if installed else 'not installed'} ({role})")
            if m.why:
                print(f"     why: {m.why}")
            print(f"     from: {', '.join(m.packages)}")
            print(f"     license: {m.license}")
            print(f"     path: {m.path(base)}")
        return 0
    if args.action == "install":
        from tqdm import tqdm

        def bar(total, desc):
            return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False, file=sys.stderr)

        try:
            written = store.install(progress_factory=bar)
        except (ValueError, FileNotFoundError) as exc:
            print(f"frontdesk: models install failed: {exc}", file=sys.stderr)
            return 1
        print(f"models installed in {store.default_models_dir()} ({len(written)} file(s) written, the rest already verified)")
        return 0
    problems = store.verify()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"frontdesk: {len(problems)} model file(s) missing or corrupted; run: frontdesk models install", file=sys.stderr)
        return 1
    print(f"all model files verified (sha256) in {store.default_models_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontdesk", description="On-premises AI receptionist over SIP.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="answer calls")
    s.add_argument("--config", help="frontdesk.toml (default: the demo clinic)")
    s.add_argument("--port", type=int, help="override sip.port (0 picks a free port)")
    s.add_argument("--data-dir", help="override storage.data_dir")
    s.add_argument("--ready-file", help="write the bound SIP port here once serving")
    s.add_argument("--app", choices=["agent", "echo", "hangup"], default="agent",
                   help="agent: the receptionist (default); echo: no models, plays each utterance and DTMF digit "
                        "back (line checks, load tests); hangup: no models, answers and hangs up")
    s.add_argument("--drain", action="store_true",
                   help="tell the server already running on this data dir to finish its live calls, take no new ones "
                        "(503; OPTIONS probes see 503 too) and stop")
    s.add_argument("--dashboard-port", type=int, help="override dashboard.port (0 picks a free port, written to READY_FILE.dashboard)")
    s.add_argument("--hangup-after", type=float, default=0.0, help="seconds the hangup app waits before BYE")
    s.set_defaults(func=_cmd_serve)

    c = sub.add_parser("call", help="place a test call with pjsua2 and print the transcript")
    c.add_argument("uri")
    c.add_argument("--say", action="append", help="a line the caller speaks (repeatable)")
    c.add_argument("--dtmf", help="digits to send (RFC 4733) after the spoken lines")
    c.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    c.add_argument("--json", help="write the call result as JSON here")
    c.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    c.add_argument("--no-transcribe", action="store_true", help="skip transcribing the agent")
    c.add_argument("--barge-in-ms", type=int, help="speak the first --say line this long after the greeting starts")
    c.add_argument("--echo-db", type=float, help="send the agent's audio back as a line echo at this level (e.g. -10)")
    c.add_argument("--echo-delay-ms", type=int, default=100, help="delay of the line echo (default 100)")
    c.add_argument("--hold-after", type=int, help="after the agent answers this --say line, hold the call (re-INVITE)")
    c.add_argument("--hold-s", type=float, default=3.0, help="how long to hold before resuming (default 3)")
    c.add_argument("--refuse-transfer", action="store_true", help="answer the agent's REFER with 603 (test the fallback)")
    c.add_argument("--srtp", action="store_true", help="offer SRTP with SDES keys (RTP/SAVP), as Twilio Secure Trunking does")
    c.add_argument("--caller-id", default="caller", help="the caller's number, sent as the From user (e.g. +12025550143)")
    c.add_argument("--persona", help="a simulated caller (tests/personas/README.md): it listens and answers from its facts")
    c.add_argument("--config", help="the clinic's frontdesk.toml, to judge a persona's call against its database")
    c.add_argument("--data-dir", help="the server's data directory (default: the config's)")
    c.add_argument("--seed", action="store_true", help="book a cancel/reschedule persona's existing appointment first")
    c.set_defaults(func=_cmd_call)

    k = sub.add_parser("calendar", help="the clinic calendar: services, providers, slots, bookings, import/export")
    k.add_argument("what", choices=["services", "providers", "slots", "bookings", "callbacks", "import", "export"])
    k.add_argument("file", nargs="?", help="the .ics file for import/export")
    k.add_argument("--config")
    k.add_argument("--data-dir")
    k.add_argument("--date", help="YYYY-MM-DD (slots)")
    k.add_argument("--service", help="only this service (slots)")
    k.add_argument("--provider", help="whose busy time an import is (import)")
    k.add_argument("--json", action="store_true", help="JSON output (bookings)")
    k.set_defaults(func=_cmd_calendar)

    r = sub.add_parser("report", help="call volume, answer, booking and handoff rates, misunderstandings, latency, no-shows")
    r.add_argument("--since", help="only calls since this date (YYYY-MM-DD or ISO time, UTC)")
    r.add_argument("--json", action="store_true", help="JSON output")
    r.add_argument("--config")
    r.add_argument("--data-dir")
    r.set_defaults(func=lambda a: __import__("frontdesk.report_cli", fromlist=["report"]).report(a))

    pg = sub.add_parser("purge", help="delete transcripts and recordings past the retention period now")
    pg.add_argument("--days", type=int, help="override privacy.retention_days")
    pg.add_argument("--config")
    pg.add_argument("--data-dir")
    pg.set_defaults(func=lambda a: __import__("frontdesk.report_cli", fromlist=["purge"]).purge(a))

    kg = sub.add_parser("keygen", help="make a key for encryption at rest (privacy.encrypt)")
    kg.add_argument("--file", help="write it here (mode 600) instead of printing it")
    kg.add_argument("--force", action="store_true", help="overwrite an existing key file")
    kg.set_defaults(func=lambda a: __import__("frontdesk.report_cli", fromlist=["keygen"]).keygen(a))

    from .dashboard.users_cli import add_parser as add_users_parser
    add_users_parser(sub)  # frontdesk users add|list|remove

    m = sub.add_parser("models", help="install, verify or list the local models")
    m.add_argument("action", choices=["install", "verify", "list"])
    m.set_defaults(func=_cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `frontdesk calendar slots | head` ends quietly
    args = build_parser().parse_args(argv)
    from .logs import setup_logging
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"frontdesk: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
