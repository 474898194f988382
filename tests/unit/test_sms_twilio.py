"""Texts through Twilio's Messaging API, against a local HTTP server that checks each request the
way Twilio documents it (the real API cannot be reached from here): the path with the Account
SID, HTTP basic auth, a form body with To, Body and From or MessagingServiceSid; 201 and a sid
back. Permanent refusals are not retried; outages are."""

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from frontdesk.config import DEMO_CONFIG, ConfigError, load_config
from tools.outbox import OutboxWorker
from tools.sms_twilio import SmsSendError, TwilioSmsGateway

SID, TOKEN = "AC" + "0123456789abcdef" * 2, "secret-token"


class FakeTwilio:
    """Answers POST /2010-04-01/Accounts/{SID}/Messages.json as Twilio does, after checking it."""

    def __init__(self):
        self.received: list[dict] = []
        self.problems: list[str] = []
        self.answer = (201, {})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
                    outer.problems.append(f"path {self.path}")
                if self.headers.get("Authorization") != "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode():
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
                    outer.problems.append("not a form")
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                if not form.get("To") or not form.get("Body") or ("From" in form) == ("MessagingServiceSid" in form):
                    self._reply(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
                    return
                outer.received.append(form)
                status, extra = outer.answer
                if status == 201:
                    extra = {"sid": "SM" + "1" * 32, "status": "queued", "to": form["To"], "body": form["Body"]}
                self._reply(status, extra)

            def _reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio_api():
    api = FakeTwilio()
    yield api
    api.stop()


def test_a_text_is_sent_as_twilio_documents_it(twilio_api):
    gateway = TwilioSmsGateway(SID, TOKEN, "+15550100100", twilio_api.url)
    gateway.send("+12025550143", "Maple Street Dental: a reminder of your appointment on Thursday at 9 AM.")
    assert twilio_api.problems == [] and gateway.sent == 1
    (form,) = twilio_api.received
    assert form == {"To": "+12025550143", "From": "+15550100100",
                    "Body": "Maple Street Dental: a reminder of your appointment on Thursday at 9 AM."}
    TwilioSmsGateway(SID, TOKEN, "MG" + "a" * 32, twilio_api.url).send("+12025550143", "Hi")
    assert twilio_api.received[-1]["MessagingServiceSid"] == "MG" + "a" * 32 and "From" not in twilio_api.received[-1]


def test_a_wrong_token_or_a_bad_number_is_not_retried_and_an_outage_is(twilio_api, tmp_path, caplog):
    bad_token = TwilioSmsGateway(SID, "wrong", "+15550100100", twilio_api.url)
    bad_token.send("+12025550143", "Hi")  # 401: logged, not retried
    assert bad_token.refused == 1 and twilio_api.received == []
    twilio_api.answer = (400, {"code": 21211, "message": "The 'To' number +12025550143 is not valid.", "status": 400})
    gateway = TwilioSmsGateway(SID, TOKEN, "+15550100100", twilio_api.url)
    gateway.send("+12025550143", "Hi")
    assert gateway.refused == 1 and "21211" in caplog.text and "+12025550143" not in caplog.text  # no number in the log
    twilio_api.answer = (503, {"code": 20503, "status": 503})
    with pytest.raises(SmsSendError):
        gateway.send("+12025550143", "Hi")
    # through the outbox: the 503 leaves it queued; when Twilio is back it goes out once
    from sqlmodel import Session

    from tools.db import make_engine, utcnow
    from tools.schema import Outbox
    engine = make_engine(f"sqlite:///{tmp_path}/o.db")
    with Session(engine) as s:
        s.add(Outbox(kind="sms", payload=json.dumps({"to": "+12025550143"}), created_at=utcnow(),
                     next_attempt_at=utcnow()))
        s.commit()
    worker = OutboxWorker(engine, {"sms": lambda p: gateway.send(p["to"], "Hi")}, base_delay_s=0.0)
    assert worker.run_once() == (0, 1)
    twilio_api.answer = (201, {})
    assert worker.run_once() == (1, 0) and worker.run_once() == (0, 0)


def test_twilio_texts_need_a_sender_and_credentials_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text(DEMO_CONFIG.read_text().replace('gateway = "file"', 'gateway = "twilio"\nfrom = "+15550100100"'))
    monkeypatch.delenv("FRONTDESK_TWILIO_ACCOUNT_SID", raising=False)
    with pytest.raises(ConfigError, match="FRONTDESK_TWILIO_ACCOUNT_SID"):
        load_config(path)
    monkeypatch.setenv("FRONTDESK_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("FRONTDESK_TWILIO_AUTH_TOKEN", TOKEN)
    cfg = load_config(path)
    assert cfg.sms.gateway == "twilio" and cfg.sms.account_sid == SID and TOKEN not in repr(cfg.sms)
    path.write_text(DEMO_CONFIG.read_text().replace('gateway = "file"', 'gateway = "twilio"\nfrom = "front desk"'))
    with pytest.raises(ConfigError, match="sms.from"):
        load_config(path)
