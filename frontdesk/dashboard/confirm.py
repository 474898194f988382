"""The page an email reminder's confirm link opens: no sign-in, the token is the permission.

GET shows the appointment's time and a button; only the POST confirms (a mail scanner that
fetches every link confirms nothing). The page shows the clinic's name and the time, nothing
else about the visit, and the same words for a forged token as for an unknown appointment.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from tools.confirm_link import CANCELLED, EXPIRED, MOVED, OK, USED, ConfirmLinks

from .common import Dash

WHY = {
    USED: "This appointment is already confirmed. Thank you.",
    EXPIRED: "This link has expired: the appointment has begun or passed.",
    MOVED: "This link is for an earlier time: the appointment has been moved since. Please call us.",
    CANCELLED: "This appointment has been cancelled. Please call us to book again.",
}
NOT_VALID = "This link is not valid. Please call us."


def routes(d: Dash) -> APIRouter:
    r = APIRouter()
    links = ConfirmLinks(d.calendar) if d.calendar is not None else None

    def page(request: Request, token: str, status: str, booking, code: int = 200, done: bool = False):
        when = booking.start.astimezone(d.tz()).strftime("%A, %B %-d at %-I:%M %p") if booking is not None else ""
        message = ("Thank you: your appointment is confirmed." if done else
                   "" if status == OK else WHY.get(status, NOT_VALID))
        return d.render(request, "confirm.html", None, code=code, token=token, when=when if status != "invalid" else "",
                        ask=status == OK and not done, message=message, phone=d.cfg.clinic.phone)

    @r.get("/confirm/{token}")
    def confirm_page(token: str, request: Request):
        status, booking = links.check(token) if links is not None else ("invalid", None)
        return page(request, token, status, booking, code=404 if status == "invalid" else 200)

    @r.post("/confirm/{token}")
    def confirm(token: str, request: Request):
        status, booking = links.confirm(token) if links is not None else ("invalid", None)
        if status == OK:
            d.store.audit("patient", "confirm_link", detail=f"appointment {booking.id} confirmed from its email link")
        return page(request, token, status, booking, code=404 if status == "invalid" else 200, done=status == OK)

    return r
