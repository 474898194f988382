"""Dashboard sessions: random session ids kept in memory (never derived from user data), each with
its own CSRF token. Signing in always starts a new session (no session fixation); signing out, an
idle hour or twelve hours end it. A restart signs everyone out, which is acceptable for a staff
dashboard on the clinic's own machine."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

IDLE_S = 60 * 60
ABSOLUTE_S = 12 * 60 * 60
MAX_ANONYMOUS = 5000  # sessions made for the login form alone, oldest dropped first
MAX_SIGNED_IN = 2000


@dataclass
class DashSession:
    csrf: str
    username: str = ""  # empty: not signed in yet (the login form's session)
    role: str = ""
    credential: str = ""  # the password hash it signed in with: a changed password ends the session
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)

    @property
    def signed_in(self) -> bool:
        return bool(self.username)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


def _key(token: str) -> str:
    """The store is keyed by a hash of the cookie value, so the dict never holds usable tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, idle_s: float = IDLE_S, absolute_s: float = ABSOLUTE_S, clock=time.monotonic):
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.clock = clock
        self._lock = threading.Lock()
        self._anon: OrderedDict[str, DashSession] = OrderedDict()
        self._users: OrderedDict[str, DashSession] = OrderedDict()

    def _alive(self, s: DashSession, now: float) -> bool:
        return now - s.seen < self.idle_s and now - s.created < self.absolute_s

    def get(self, token: str | None) -> DashSession | None:
        if not token or len(token) > 128:
            return None
        key = _key(token)
        now = self.clock()
        with self._lock:
            for table in (self._users, self._anon):
                s = table.get(key)
                if s is None:
                    continue
                if not self._alive(s, now):
                    del table[key]
                    return None
                s.seen = now
                table.move_to_end(key)
                return s
        return None

    def new(self, username: str = "", role: str = "", credential: str = "") -> tuple[str, DashSession]:
        """A fresh session (and its cookie value)."""
        token = secrets.token_urlsafe(32)
        s = DashSession(csrf=secrets.token_urlsafe(32), username=username, role=role,
                        created=self.clock(), seen=self.clock(), credential=credential)
        with self._lock:
            table, cap = (self._users, MAX_SIGNED_IN) if username else (self._anon, MAX_ANONYMOUS)
            table[_key(token)] = s
            while len(table) > cap:
                table.popitem(last=False)
        return token, s

    def drop(self, token: str | None) -> None:
        if not token:
            return
        key = _key(token)
        with self._lock:
            self._users.pop(key, None)
            self._anon.pop(key, None)

    def drop_user(self, username: str) -> int:
        """End every session of a user (removed, or role changed)."""
        with self._lock:
            keys = [k for k, s in self._users.items() if s.username == username]
            for k in keys:
                del self._users[k]
        return len(keys)

    def __len__(self) -> int:
        return len(self._anon) + len(self._users)
