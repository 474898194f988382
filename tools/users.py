"""Dashboard accounts: staff and admin users, scrypt password hashes, and sign-in throttling."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

from pydantic import NaiveDatetime
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from .records import utcnow


class DashboardUser(SQLModel, table=True):
    __tablename__ = "dashboard_user"
    username: str = Field(primary_key=True)
    password_hash: str
    role: str = "staff"  # staff | admin
    failed_logins: int = 0
    locked_until: NaiveDatetime | None = None
    created_at: NaiveDatetime



def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """scrypt (n=2^14, r=8, p=1) with a random salt: ``scrypt$<salt hex>$<hash hex>``."""
    import hashlib
    import secrets

    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    import hmac

    try:
        kind, salt, _ = stored.split("$")
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(hash_password(password, salt=bytes.fromhex(salt)), stored)


class UserError(ValueError):
    pass


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A stored hash to check an unknown user's password against: the same one scrypt as a real
    user's check, so that timing does not tell which user names exist."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not a user of this dashboard"))
    return _DUMMY_HASH[0]


class Users:
    """Local dashboard accounts: staff and admin. Repeated failed logins are throttled per pair of
    (user name, source address) and per source, not per account: a stranger failing on purpose
    cannot lock out the staff member the account belongs to. Every failure gives the same answer
    after the same work (one scrypt), whether the user exists, the password is wrong or the source
    is throttled."""

    def __init__(self, engine: Engine, lockout_after: int = 5, lockout_minutes: int = 15, per_source: int = 20):
        self.engine = engine
        self.lockout_after = lockout_after
        self.lockout_minutes = lockout_minutes
        self.per_source = per_source  # failures from one address (any user names) before it waits
        self._failures: dict[tuple[str, str], list[datetime]] = {}  # (user, source) -> failure times
        self._by_source: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()
        _dummy_hash()

    def add(self, username: str, password: str, role: str = "staff", replace: bool = False) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", username):
            raise UserError("user names are 1-64 letters, digits, '.', '_', '@' or '-'")
        if role not in ("staff", "admin"):
            raise UserError("role must be staff or admin")
        if len(password.strip()) < 10 or len(set(password)) < 5:
            raise UserError("passwords need at least 10 characters, not counting spaces at the ends, "
                            "and at least 5 different ones")
        with Session(self.engine) as s:
            if s.get(DashboardUser, username) is not None and not replace:
                raise UserError(f"user {username} exists")
            s.merge(DashboardUser(username=username, password_hash=hash_password(password), role=role, created_at=utcnow()))
            s.commit()

    def remove(self, username: str) -> bool:
        with Session(self.engine) as s:
            user = s.get(DashboardUser, username)
            if user is None:
                return False
            s.delete(user)
            s.commit()
            return True

    def list(self) -> list[DashboardUser]:
        with Session(self.engine) as s:
            return list(s.exec(select(DashboardUser).order_by(DashboardUser.username)))

    def get(self, username: str) -> DashboardUser | None:
        with Session(self.engine) as s:
            return s.get(DashboardUser, username)

    def login(self, username: str, password: str, now: datetime | None = None,
              source: str = "") -> tuple[DashboardUser | None, str]:
        """(the user, "") on success; otherwise (None, "bad credentials"), whatever the reason: an
        unknown user, a wrong password, or a throttled user name and source."""
        now = now or utcnow()
        window = timedelta(minutes=self.lockout_minutes)
        with self._lock:
            pair = [t for t in self._failures.get((username, source), []) if now - t < window]
            src = [t for t in self._by_source.get(source, []) if now - t < window]
        throttled = len(pair) >= self.lockout_after or len(src) >= self.per_source
        with Session(self.engine) as s:
            user = s.get(DashboardUser, username)
            ok = check_password(password, user.password_hash if user is not None else _dummy_hash())
            if user is not None and ok and not throttled:
                with self._lock:
                    self._failures.pop((username, source), None)
                user.failed_logins = 0
                s.add(user)
                s.commit()
                s.refresh(user)
                return user, ""
            with self._lock:
                self._failures[(username, source)] = [*pair, now]
                self._by_source[source] = [*src, now]
                if len(self._failures) > 10000:  # a spray of names: keep the recent ones
                    self._failures = {k: v for k, v in self._failures.items() if now - v[-1] < window}
            if user is not None:
                user.failed_logins += 1
                s.add(user)
                s.commit()
        return None, "bad credentials"
