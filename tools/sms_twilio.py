"""Texts through Twilio's Programmable Messaging REST API (an SmsGateway, tools.notify).

One request per text: ``POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP
basic authentication (the Account SID and Auth Token, from the environment) and the form fields
``To``, ``Body`` and either ``From`` (a Twilio number) or ``MessagingServiceSid`` (an ``MG...``
service). Twilio answers 201 with the message's ``sid``.

What goes wrong is told apart, because the outbox retries what raises: a network error, a 5xx or
a 429 raises (retried with backoff); any other 4xx is Twilio refusing this text for good (an
invalid number, code 21211; a recipient who replied STOP, code 21610) and is logged with its code
and not retried. Nothing logged names the recipient or the words.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger("frontdesk.sms")
API_URL = "https://api.twilio.com"


class SmsSendError(RuntimeError):
    """The text did not go out this time; the outbox tries again later."""


class TwilioSmsGateway:
    def __init__(self, account_sid: str, auth_token: str, sender: str, api_url: str = API_URL, timeout_s: float = 10.0):
        if not account_sid.startswith("AC") or not auth_token:
            raise ValueError("Twilio texts need an Account SID (AC...) and an Auth Token")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{urllib.parse.quote(account_sid)}/Messages.json"
        self.timeout_s = timeout_s
        self.sent = 0
        self.refused = 0

    def send(self, to: str, text: str) -> None:
        fields = {"To": to, "Body": text}
        fields["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        auth = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(self.url, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                         headers={"Authorization": f"Basic {auth}", "Accept": "application/json",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read() or b"{}")
            except ValueError:
                error = {}
            code = error.get("code")  # its "message" may quote the number: not kept
            if exc.code >= 500 or exc.code == 429:
                raise SmsSendError(f"Twilio answered {exc.code} (code {code})") from None
            self.refused += 1
            log.warning("text refused by Twilio for good: HTTP %d, code %s; not retried", exc.code, code)
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SmsSendError(f"Twilio not reached: {type(exc).__name__}") from None
        self.sent += 1
        log.info("text sent through Twilio (%s, %s)", answer.get("sid", "?"), answer.get("status", "?"))
