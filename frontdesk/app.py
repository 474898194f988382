"""`frontdesk serve`: start-up. Loads the models and the back office, then runs the call hub
(frontdesk.calls) with its ingresses: SIP (frontdesk.ingress.sip) always, Twilio Media Streams
and the dashboard's browser test calls (frontdesk.ingress) on the dashboard's port when enabled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
import time

from dialog.conversation import Conversation

from .backoffice import Backoffice
from .calls import CallHub
from .config import Config
from .engines import Engines
from .ingress.sip import SipIngress

log = logging.getLogger("frontdesk.app")


async def start_dashboard(cfg: Config, calls: CallHub, sip: SipIngress) -> tuple[asyncio.Task, object, int]:
    """The staff dashboard and /metrics, served by uvicorn on the server's own event loop."""
    import socket as _socket

    import uvicorn

    from .dashboard.app import create_app
    from .metrics import Metrics
    from .web_guard import web_limits
    from tools.users import Users

    metrics = Metrics(calls.store, lambda: {**calls.live(), **sip.live()})
    calendar = calls.backoffice.calendar if calls.backoffice is not None else None
    users = Users(calls.store.engine, cfg.dashboard.lockout_after, cfg.dashboard.lockout_minutes)
    test_calls = None
    if cfg.dashboard.test_call and calls.app in ("agent", "echo"):  # echo: a line check from the browser
        from .ingress.webrtc import WebRtcIngress
        test_calls = WebRtcIngress(calls, cfg.dashboard.test_call_connect_s)
    web = create_app(cfg, calls.store, users, calendar, metrics.render, test_calls=test_calls)
    if cfg.twilio.enabled:
        from .ingress.twilio import add_twilio_routes
        add_twilio_routes(web, cfg, calls)
    family = _socket.AF_INET6 if ":" in cfg.dashboard.listen else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind((cfg.dashboard.listen, cfg.dashboard.port))
    port = sock.getsockname()[1]
    # X-Forwarded-For only from configured proxies: uvicorn's default believes 127.0.0.1, and behind
    # a local proxy every client would then be whoever the header said
    trusted = cfg.dashboard.trusted_proxies
    uv = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off", access_log=False,
                                       proxy_headers=bool(trusted), forwarded_allow_ips=",".join(trusted) or None,
                                       **web_limits(cfg)))
    task = asyncio.get_running_loop().create_task(uv.serve(sockets=[sock]))
    return task, uv, port


def _place_reminder_calls(reminder_calls, sip: SipIngress, loop: asyncio.AbstractEventLoop) -> None:
    """The back office's reminder calls (its thread) are placed by this node's SIP ingress (the
    loop); what became of each goes back to the database off the loop."""
    def report(attempt_id: int, call_id: str, result: str) -> None:
        def write() -> None:
            if call_id:
                reminder_calls.started(attempt_id, call_id)
            if result != "placing":
                reminder_calls.finished(attempt_id, result)
        loop.run_in_executor(None, write)

    reminder_calls.dial = lambda req: asyncio.run_coroutine_threadsafe(sip.place_reminder_call(req, report), loop)


async def serve(cfg: Config, ready_file: str | None = None, app: str = "agent", hangup_after_s: float = 0.0,
                drain: bool = False) -> None:
    # Model workers hold the GIL in their Python parts; hand it over every 1 ms rather than 5 ms,
    # so that the media loop sends each RTP packet on time.
    sys.setswitchinterval(0.001)
    loop = asyncio.get_running_loop()
    engines = backoffice = None
    # the back office (calendar, outbox, CalDAV sync) runs with every app: a node of a cluster
    # takes its turn at it whether or not it loads the models
    backoffice = await loop.run_in_executor(None, Backoffice, cfg)
    backoffice.start()
    if app == "agent":
        engines = await loop.run_in_executor(None, Engines, cfg)
        conv = Conversation(cfg.clinic, None)
        await loop.run_in_executor(None, engines.warm, conv.model_messages("Hello, I'd like to book an appointment."))
        await loop.run_in_executor(None, engines.prepare_phrases, conv.fixed_phrases())
        if os.environ.get("FRONTDESK_FAULT"):
            engines.inject_fault(os.environ["FRONTDESK_FAULT"])
    calls = CallHub(cfg, engines, backoffice, app=app, hangup_after_s=hangup_after_s)
    sip = SipIngress(cfg, calls)
    # What start-up loaded (models, libraries) lives for the whole process: keep it out of the
    # garbage collector's full passes, which otherwise stall every call's 20 ms media clock.
    import gc
    gc.collect()
    gc.freeze()
    # Media frames allocate many short-lived objects; collecting the young generation every 700
    # allocations (the default) runs it a thousand times a second with hundreds of calls.
    gc.set_threshold(2000, 20, 50)
    if os.environ.get("FRONTDESK_GC_LOG"):  # report each collection that held the loop for > 5 ms
        gc_started: list[float] = []

        def gc_timing(phase: str, info: dict) -> None:
            if phase == "start":
                gc_started[:] = [time.perf_counter()]
            elif gc_started and time.perf_counter() - gc_started[0] > 0.005:
                log.warning("gc: generation %d took %.1f ms (%d collected)", info["generation"],
                            (time.perf_counter() - gc_started[0]) * 1000, info["collected"])
        gc.callbacks.append(gc_timing)
    calls.start()
    await sip.start()
    if app == "agent" and backoffice.reminder_calls is not None:
        _place_reminder_calls(backoffice.reminder_calls, sip, loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def drain_then_stop() -> None:
        calls.start_draining()
        while calls.sessions:
            await asyncio.sleep(0.5)
        log.info("drained: no live calls left")
        stop.set()

    loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(drain_then_stop()))
    if drain:
        loop.create_task(drain_then_stop())
    if os.environ.get("PYTHONTRACEMALLOC"):  # memory debugging: SIGUSR1 writes the top allocation sites
        import gc
        import tracemalloc

        def dump() -> None:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(str(cfg.data_dir / f"tracemalloc-{int(time.time())}.snap"))  # compare_to() offline
            top = snapshot.statistics("lineno")[:25]
            with open(cfg.data_dir / "tracemalloc.txt", "w") as f:
                f.write("\n".join(str(t) for t in top) + "\n")
                counts: dict[str, int] = {}
                for obj in gc.get_objects():
                    counts[type(obj).__name__] = counts.get(type(obj).__name__, 0) + 1
                f.write("\n".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:25]) + "\n")
        loop.add_signal_handler(signal.SIGUSR1, dump)
    host = cfg.sip.public_address
    if ipaddress.ip_address(cfg.sip.listen).is_loopback and not ipaddress.ip_address(host).is_loopback:
        log.warning("sip.listen is %s, so only this host reaches the server, yet SIP and SDP advertise %s: "
                    "callers elsewhere get no answer. Set sip.listen to %s or 0.0.0.0 (and sip.allowed_networks).",
                    cfg.sip.listen, host, host)
    uri = f"sip:frontdesk@{host}:{sip.bound_port}"
    transports = "/".join(t.lower() for t in cfg.sip.transports)
    if sip.tls_port:
        transports += f"; tls on port {sip.tls_port}"
    name = cfg.clinic.name if app == "agent" else f"the {app} app (no models)"
    print(f"frontdesk ready: {name} answers {uri} ({transports}); "
          f"call it with: .venv/bin/frontdesk call {uri} --say \"Hi, I'd like to book a cleaning.\"", flush=True)
    dashboard = None
    if cfg.dashboard.enabled:
        try:
            dashboard = await start_dashboard(cfg, calls, sip)
        except Exception as exc:  # the phone line matters more: answer calls without it
            log.error("dashboard not started: %s: %s", type(exc).__name__, exc)
        else:
            log.info("dashboard on http://%s:%d/ (metrics at /metrics)", cfg.dashboard.listen, dashboard[2])
    if dashboard is not None:
        if ready_file:
            with open(ready_file + ".dashboard", "w") as f:
                f.write(f"{dashboard[2]}\n")
    pid_file = cfg.data_dir / "frontdesk.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")  # for `frontdesk serve --drain`
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(f"{sip.bound_port}\n")
    await stop.wait()
    log.info("shutting down")
    await calls.close(sip.close)
    if dashboard is not None:
        dashboard[1].should_exit = True
        await asyncio.wait([dashboard[0]], timeout=5)
    calls.calllog.close()
    pid_file.unlink(missing_ok=True)
    if backoffice is not None:
        backoffice.stop()
