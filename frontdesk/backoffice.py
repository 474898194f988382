"""The clinic's back office for the running server: calendar, outbox worker, CalDAV sync, reminders
(texts, emails and calls) and the waitlist."""

from __future__ import annotations

import logging
import threading
import time
from datetime import time as clock_time

from dialog.conversation import BookingPolicy
from tools.caldav_sync import CalDavSettings, CalDavSync
from tools.calendar import Calendar
from tools.db import make_engine
from tools.notify import LogSmsGateway, Notifier, SmtpSettings
from tools import lease
from tools.outbox import OutboxWorker
from tools.reminder_calls import ReminderCalls
from tools.reminders import ReminderSettings, Reminders
from tools.waitlist import Waitlist

from .config import Config

log = logging.getLogger("frontdesk.backoffice")
LEASE_S = 10.0
REMINDERS_EVERY_S = 60.0  # how often due reminders and freed slots for the waitlist are looked for


def data_cipher(cfg: Config):
    """The cipher for data at rest when privacy.encrypt is on (callers' names, numbers and words in
    the calendar, callback tasks and the text log); None otherwise."""
    if not cfg.privacy.encrypt:
        return None
    from tools.crypto import ContentCipher, load_key
    return ContentCipher(load_key(cfg.privacy.encryption_key_file, required=True))


def sms_gateway(cfg: Config, cipher=None):
    """Where texts go: the file gateway (nothing sent), or Twilio's Messaging API."""
    if cfg.sms.gateway == "twilio":
        from tools.sms_twilio import TwilioSmsGateway
        return TwilioSmsGateway(cfg.sms.account_sid, cfg.sms.auth_token, cfg.sms.sender, cfg.sms.api_url)
    return LogSmsGateway(cfg.data_dir / "sms.jsonl", cipher)


class Backoffice:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.engine = make_engine(cfg.database_url)
        self.node = cfg.node_id
        self.cipher = data_cipher(cfg)
        self.calendar = Calendar(self.engine, cfg.clinic.timezone, step_min=cfg.booking.slot_step_min,
                                 lead_min=cfg.booking.lead_min, node=self.node, cipher=self.cipher)
        self.calendar.seed(cfg.clinic.services, cfg.clinic.providers, cfg.clinic.closures)
        self._release_orphaned_holds()
        c = cfg.confirmations
        r = cfg.reminders
        self.reminders = Reminders(self.calendar, ReminderSettings(r.before_hours, r.channels,
                                                                   clock_time.fromisoformat(r.quiet_hours[0]),
                                                                   clock_time.fromisoformat(r.quiet_hours[1]),
                                                                   calls=r.calls),
                                   cfg.clinic.timezone)
        self.notifier = Notifier(self.calendar, cfg.clinic.name, cfg.clinic.address,
                                 SmtpSettings(c.smtp_host, c.smtp_port, c.sender, c.smtp_username, c.smtp_password,
                                              c.smtp_starttls),
                                 sms_gateway(cfg, self.cipher), quiet=self.reminders.quiet_now,
                                 clinic_phone=cfg.clinic.phone, replies=cfg.twilio.enabled and cfg.sms.gateway == "twilio",
                                 confirm_url=r.confirm_url)
        self.reminder_calls = ReminderCalls(self.calendar, self.notifier.reminded, attempts=r.call_attempts,
                                            retry_minutes=r.call_retry_minutes) if r.calls else None
        self.waitlist = Waitlist(self.calendar, cfg.waitlist.hold_minutes, cfg.clinic.name, quiet=self.reminders.quiet_now,
                                 sms=self.notifier.sms) if cfg.waitlist.enabled else None
        self.sync = CalDavSync(self.calendar, CalDavSettings(cfg.caldav.url, cfg.caldav.username, cfg.caldav.password),
                               cfg.clinic.name, cfg.clinic.address) if cfg.caldav.url else None
        push = self.sync.push if self.sync else (lambda payload: None)
        self.worker = OutboxWorker(self.engine, {"sms": self.notifier.handle_sms, "email": self.notifier.handle_email,
                                                 "reminder_sms": self.notifier.handle_reminder_sms,
                                                 "reminder_email": self.notifier.handle_reminder_email,
                                                 "reminder_call": self._reminder_call,
                                                 "waitlist_offer": self._waitlist_offer,
                                                 "caldav_put": push, "caldav_delete": push})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _release_orphaned_holds(self) -> None:
        """No call survives a restart, so none of this node's holds do either. Other nodes' holds
        (a shared database) stay: theirs end with their calls, or expire."""
        released = self.calendar.release_holds(node=self.node)
        if released:
            log.info("released %d hold(s) left by this node's calls before it restarted", released)

    def _reminder_call(self, payload: dict) -> None:
        if self.reminder_calls is not None:  # queued while calls were on: turned off since, not placed
            self.reminder_calls.handle(payload)

    def _waitlist_offer(self, payload: dict) -> None:
        if self.waitlist is not None:  # queued while the waitlist was on: turned off since, not sent
            self.waitlist.handle_offer(payload)

    def policy(self) -> BookingPolicy:
        return BookingPolicy(
            required_fields=tuple(self.cfg.booking.required_fields), hold_ttl_s=self.cfg.booking.hold_ttl_s,
            horizon_days=self.cfg.booking.horizon_days, front_desk_uri=self.cfg.handoff.front_desk_uri,
            emergency_number=self.cfg.clinic.emergency_number, confirm_by=tuple(self.cfg.booking.confirm_by),
            parking=self.cfg.clinic.parking, insurance=tuple(self.cfg.clinic.insurance),
            spell_names=self.cfg.booking.spell_names, survey=self.cfg.survey,
            waitlist_days=self.cfg.waitlist.days if self.cfg.waitlist.enabled else 0,
            reminder_calls=self.cfg.reminders.calls)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="backoffice", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_pull = next_reminders = 0.0
        leading = False
        while not self._stop.is_set():
            # One node of a cluster sends the outbox and syncs CalDAV, under a lease in the database;
            # another takes over within LEASE_S if it dies. A single node always holds it.
            try:
                held = lease.acquire(self.engine, "backoffice", self.node, LEASE_S)
            except Exception as exc:
                log.warning("back office lease: %s", exc)
                held = False
            if held != leading:
                leading = held
                log.info("back office (outbox, CalDAV sync) %s on node %s", "runs" if held else "stopped", self.node)
                next_pull = 0.0
            if not held:
                self._stop.wait(1.0)
                continue
            if time.monotonic() >= next_reminders:
                next_reminders = time.monotonic() + REMINDERS_EVERY_S
                try:
                    self.reminders.run_once()
                except Exception:
                    log.exception("reminders run failed")
                try:
                    if self.waitlist is not None:
                        self.waitlist.run_once()
                except Exception:
                    log.exception("waitlist run failed")
            try:
                self.worker.run_once()
            except Exception:
                log.exception("outbox run failed")
            if self.sync and time.monotonic() >= next_pull:
                next_pull = time.monotonic() + self.cfg.caldav.sync_interval_s
                try:
                    stats = self.sync.pull()
                    if any(stats.values()):
                        log.info("CalDAV sync: %s", stats)
                except Exception as exc:
                    log.warning("CalDAV pull failed (will retry): %s", exc)
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        try:
            lease.release(self.engine, "backoffice", self.node)  # the next node need not wait for expiry
        except Exception:
            pass
