import subprocess

import pytest

from frontdesk.config import DEMO_CONFIG, ConfigError, load_config

from ..conftest import FRONTDESK


def test_demo_clinic_loads():
    cfg = load_config()
    assert cfg.clinic.name == "Maple Street Dental"
    assert cfg.sip.port == 5060 and cfg.sip.transports == ["UDP"]
    assert cfg.clinic.hours["sat"] is None and cfg.clinic.hours["mon"] == ("08:00", "17:00")
    assert any(s.name == "cleaning" for s in cfg.clinic.services)
    assert not cfg.twilio.enabled and cfg.dashboard.test_call
    assert cfg.reminders.before_hours == [] and cfg.reminders.quiet_hours == ("21:00", "08:00")  # off by default
    assert not cfg.waitlist.enabled and cfg.waitlist.hold_minutes == 30 and not cfg.reminders.confirm_url


def test_twilio_urls(tmp_path):
    text = DEMO_CONFIG.read_text().replace("# [twilio]", '[twilio]\nenabled = true\nauth_token = "t"\n'
                                          'public_url = "https://voice.example.com/"\n#')
    path = tmp_path / "twilio.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.twilio.public_url == "https://voice.example.com"
    assert cfg.twilio.stream_url == "wss://voice.example.com/twilio/stream"


@pytest.mark.parametrize("old,new,key", [
    ('port = 5060', 'port = "five"', "sip.port"),
    ('port = 5060', 'port = 70000', "sip.port"),
    ('timezone = "America/New_York"', 'timezone = "Mars/Olympus"', "clinic.timezone"),
    ('mon = "08:00-17:00"', 'mon = "17:00-08:00"', "clinic.hours.mon"),
    ('listen = "127.0.0.1"', 'listen = "localhost"', "sip.listen"),
    ('allowed_networks = ["127.0.0.0/8", "::1/128"]', 'allowed_networks = ["nonsense"]', "sip.allowed_networks[0]"),
    ('transport = "udp"', 'transport = "carrier-pigeon"', "sip.transport"),
    ('duration_min = 45', 'duration_min = -5', "clinic.services[0].duration_min"),
    ('llm = ""', 'llm = "/nonexistent/model.gguf"', "models.llm"),
    ('silence_timeout_s = 15', 'silence_timeout_s = "long"', "dialog.silence_timeout_s"),
    ('srtp = "optional"', 'srtp = "sometimes"', "sip.srtp"),
    ('before_hours = []', 'before_hours = [48, -2]', "reminders.before_hours"),
    ('channels = ["sms", "email"]', 'channels = ["pigeon"]', "reminders.channels"),
    ('quiet_hours = "21:00-08:00"', 'quiet_hours = "late"', "reminders.quiet_hours"),
    ('before_hours = []', 'before_hours = [24]', "confirmations.smtp_host"),
    ('confirm_url = ""', 'confirm_url = "javascript:alert(1)"', "reminders.confirm_url"),
    ('hold_minutes = 30', 'hold_minutes = 2', "waitlist.hold_minutes"),
    ('days = 14', 'days = "soon"', "waitlist.days"),
    ('session_expires_min_s = 90', 'session_expires_min_s = 90\n[sip.register]\nregistrar = "sip:pbx;transport=sctp"',
     "sip.register.registrar"),
    ('# [twilio]', '[twilio]\nenabled = true\npublic_url = "https://voice.example.com"\n#', "twilio.auth_token"),
    ('# [twilio]', '[twilio]\nenabled = true\nauth_token = "t"\npublic_url = "voice.example.com"\n#', "twilio.public_url"),
    ('# [twilio]', '[twilio]\ndial = "the front desk"\n#', "twilio.dial"),
])
def test_bad_values_name_the_key(tmp_path, old, new, key):
    text = DEMO_CONFIG.read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(key + ":")
    assert "\n" not in str(exc.value)


def test_cli_reports_a_bad_config_in_one_line_without_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(DEMO_CONFIG.read_text().replace("port = 5060", "port = 99999"))
    proc = subprocess.run([FRONTDESK, "serve", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "frontdesk: config error: sip.port: expected a value between 0 and 65535, got 99999"]
    broken = tmp_path / "broken.toml"
    broken.write_text("[clinic\nname=")
    proc = subprocess.run([FRONTDESK, "serve", "--config", str(broken)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr and "Traceback" not in proc.stderr


def test_calendar_cli_slots_bookings_export_and_import(tmp_path):
    import json
    data = str(tmp_path / "var")
    run = lambda *a: subprocess.run([FRONTDESK, "calendar", *a, "--data-dir", data], capture_output=True, text=True, timeout=60)
    services = run("services")
    assert services.returncode == 0 and "cleaning" in services.stdout and "45 min" in services.stdout
    assert "Dr. Kim" in run("providers").stdout
    slots = run("slots", "--date", "2030-01-07", "--service", "checkup")  # a Monday
    lines = slots.stdout.splitlines()
    assert lines[0].startswith("2030-01-07T08:00:00-05:00") and "Dr. Patel" in lines[0]
    assert run("bookings", "--json").stdout.strip() == "[]"
    ics = tmp_path / "staff.ics"
    ics.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:meeting-1\r\n"
                   "DTSTART:20300107T130000Z\r\nDTEND:20300107T150000Z\r\nSUMMARY:Staff meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    imported = run("import", str(ics), "--provider", "Dr. Patel")
    assert imported.returncode == 0, imported.stderr
    after = [line for line in run("slots", "--date", "2030-01-07", "--service", "checkup").stdout.splitlines() if "Dr. Patel" in line]
    assert not any(line.startswith(("2030-01-07T08:", "2030-01-07T09:")) for line in after)
    assert any(line.startswith("2030-01-07T10:00") for line in after)
    out = tmp_path / "out.ics"
    assert run("export", str(out)).returncode == 0 and "BEGIN:VCALENDAR" in out.read_text()
    bad = run("slots", "--date", "someday")
    assert bad.returncode == 2 and "--date: expected YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr
    assert json.loads(run("bookings", "--json").stdout) == []


def test_frontdesk_toml_in_the_working_directory_is_the_default(tmp_path, monkeypatch):
    (tmp_path / "frontdesk.toml").write_text(DEMO_CONFIG.read_text().replace('name = "Maple Street Dental"', 'name = "Oak Clinic"'))
    monkeypatch.chdir(tmp_path)
    assert load_config().clinic.name == "Oak Clinic"
