"""Optional encryption at rest for call content and recordings (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from the environment (``FRONTDESK_DATA_KEY``) or a key file named in the config;
``frontdesk keygen`` writes one. Without a key, content is stored as plain JSON in the database.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_KEY = "FRONTDESK_DATA_KEY"
PREFIX = "enc:"


class KeyError_(ValueError):
    """A missing, unreadable or wrong encryption key."""


def load_key(key_file: str = "", required: bool = False) -> bytes | None:
    """The key from $FRONTDESK_DATA_KEY, else from ``key_file``; None when neither is set."""
    value = os.environ.get(ENV_KEY, "").strip()
    if not value and key_file:
        path = Path(key_file).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise KeyError_(f"cannot read the encryption key file {path}: {exc.strerror}") from None
    if not value:
        if required:
            raise KeyError_(f"encryption is on but no key is set (${ENV_KEY} or privacy.encryption_key_file)")
        return None
    return value.encode()


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class ContentCipher:
    def __init__(self, key: bytes | None):
        self._fernet = None
        if key is not None:
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(key)
                self._raw = key
            except ValueError:
                raise KeyError_("the encryption key is not a valid Fernet key (32 url-safe base64 bytes)") from None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, text: str) -> str:
        if self._fernet is None:
            return text
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise KeyError_("this content is encrypted and no key is set")
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise KeyError_("this content was encrypted with another key") from None

    def lookup_key(self, value: str) -> str:
        """A value to find a sealed field by (a phone number): an HMAC with a key derived from the
        data key when encryption is on (equal numbers give equal keys, and the number cannot be read
        back from it), the value itself otherwise."""
        if self._fernet is None:
            return value
        import hashlib
        import hmac

        if not hasattr(self, "_index_key"):
            self._index_key = hmac.new(self._raw, b"frontdesk lookup key v1", hashlib.sha256).digest()
        return "k:" + hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def seal_bytes(self, data: bytes) -> bytes:
        return data if self._fernet is None else self._fernet.encrypt(data)

    def open_bytes(self, data: bytes) -> bytes:
        if self._fernet is None:
            return data
        return self._fernet.decrypt(data)
