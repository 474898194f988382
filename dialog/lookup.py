"""Finding the caller's own booking, to cancel, move or check it, and cancelling it (a mixin of
Conversation): by the number first, then the date of birth and the name as heard or spelled."""

from __future__ import annotations

import logging

from . import parse
from .states import State
from .steps import _when

log = logging.getLogger("frontdesk.dialog")


def _similar_name(stored: str, heard: str, strict: bool = False) -> bool:
    """A name on file against the name heard: any word alike (strict: the whole name alike)."""
    from difflib import SequenceMatcher

    a, b = stored.lower(), heard.lower()
    if strict:
        return SequenceMatcher(None, a, b).ratio() >= 0.85
    return any(SequenceMatcher(None, x, y).ratio() >= 0.75 for x in a.split() for y in b.split())


class Lookup:
    def _lookup(self):
        try:
            # by number first: one upcoming appointment on it is the caller's, however the name was heard
            strict_dob = "dob" in self.policy.required_fields and self.q.dob  # the clinic identifies callers by it
            phone = self.lookup_phone or self.q.phone_number
            found = self.calendar.bookings(phone=phone, upcoming_only=True, status="booked",
                                           dob=self.q.dob if strict_dob else None) if phone else []
            if len(found) > 1 and self.q.dob and not strict_dob:
                found = self.calendar.bookings(phone=phone, dob=self.q.dob, upcoming_only=True,
                                               status="booked") or found
            if len(found) > 1 and self.full_name:
                named = [b for b in found if _similar_name(b.caller_name, self.full_name)]
                found = named or found
            if not found and self.full_name and not strict_dob:
                found = self._by_name()
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self._tool("find_bookings", {"phone": phone, "name": self.full_name}, len(found))
        if not found:
            self.lookup_tries += 1
            if self.lookup_tries == 1:  # once more, by another number or the spelled name
                number = f" under {parse.speak_phone(phone)}" if phone else ""
                return self._ask(f"I couldn't find an upcoming appointment{number}. Was it booked under a different "
                                 "phone number? You can say the number, or spell your last name for me.",
                                 "lookup_retry", state=State.LOOKUP_RETRY)
            if any(r.get("reason") == "no booking found for this caller" for r in self.requests):
                self.task_done = True  # asked again after the callback was set up: say so, not a second task
                return self._ask("I still can't find it, but I've already asked our staff to call you back about "
                                 "your appointment. Is there anything else I can help with?", "not_found_again",
                                 state=State.ANYTHING_ELSE)
            return self._handoff("no booking found for this caller", "not_found",
                                 preface="I couldn't find an upcoming appointment under that name and number.")
        self.target_booking = found[0]
        b = found[0]
        if self.provider is None and self.task == "reschedule":
            self.provider = b.provider  # a moved appointment stays with the same provider unless asked
        when = _when(b)
        if self.task == "cancel":
            return self._confirm_cancel()
        if self.task == "check":  # "I'm calling to confirm my appointment": it is there, and when
            self.task_done = True
            more = f" You also have {len(found) - 1} more after that." if len(found) > 1 else ""
            return self._ask(f"Yes, I found your {b.service} with {b.provider} on {when}. You're all set for that.{more} "
                             "Is there anything else I can help with?", "checked", state=State.ANYTHING_ELSE)
        self.q.appointment_type = b.service
        if self.when.empty and not self.when.flexible:
            return self._ask(f"I found your {b.service} with {b.provider} on {when}. What day and time would you like instead?",
                             "when", state=State.WHEN)
        return self._offer(prefix=f"I found your {b.service} on {when}. I have")

    def _by_name(self) -> list:
        """Upcoming bookings under the caller's name: the whole name alike, else a spelled last
        name exactly and the first name alike (the recogniser rarely hears an unusual name right)."""
        upcoming = self.calendar.bookings(upcoming_only=True, status="booked")
        found = [b for b in upcoming if _similar_name(b.caller_name, self.full_name, strict=True)]
        if found or not (self.name_spelled and self.last_name):
            return found
        last = [b for b in upcoming if b.caller_name.split() and b.caller_name.split()[-1].lower() == self.last_name.lower()]
        if len(last) > 1 and self.first_name:
            last = [b for b in last if _similar_name(b.caller_name.split()[0], self.first_name)] or last
        return last

    def _confirm_cancel(self):
        b = self.target_booking
        return self._ask(f"I found your {b.service} with {b.provider} on {_when(b)}. Shall I cancel it?",
                         "cancel_read_back", state=State.CANCEL_CONFIRM, expect="yes_no")

    def _do_cancel(self):
        try:
            self.calendar.cancel(self.target_booking.id)
            self._tool("cancel_booking", {"id": self.target_booking.id}, "cancelled")
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.outcome = "cancelled"
        self.q.qualified = "yes"
        self.task_done = True
        enqueue = getattr(self.calendar, "enqueue_confirmation", None)
        if enqueue:
            for channel in self.policy.confirm_by:
                try:
                    enqueue(self.target_booking.id, channel)
                except Exception as exc:
                    log.warning("cancellation notice could not be queued: %s", exc)
        return self._ask("Your appointment is cancelled. Is there anything else I can help with?", "cancelled",
                         state=State.ANYTHING_ELSE)

    def _already_cancelled(self):
        """The caller asks again for the cancel this call already made (they did not hear it, or
        want to be sure): say what was cancelled, not "I can't find it"."""
        b = self.target_booking
        return self._ask(f"That's done: your {b.service} on {_when(b)} is cancelled. Is there anything else I can help with?",
                         "cancelled", state=State.ANYTHING_ELSE)
