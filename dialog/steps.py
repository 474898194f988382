"""The conversation's actions on the clinic's tools: availability, offers, holds, bookings,
cancellations, FAQ answers, handoffs and callbacks. A mixin of Conversation (conversation.py),
which owns the call's state; every tool call is logged for the call record."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import datetime, timedelta

from . import parse
from .hours import DAY_NAMES, ORDER, describe_hours, hours_on, spoken_time
from .states import State

log = logging.getLogger("frontdesk.dialog")
NO_ANSWER = ("I don't have that information, but I can have someone from the clinic call you back about it. "
             "Would you like that?")


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def day_words(t: datetime) -> str:
    return f"{DAY_NAMES[list(DAY_NAMES)[t.weekday()]]}, {t.strftime('%B')} {ordinal(t.day)}"


class Steps:
    # -- availability and offers ---------------------------------------------------------

    def _search(self, after_start=None) -> list:
        cal = self.calendar
        if cal is None:
            raise RuntimeError("no calendar configured")
        today = self.now_local().date()
        w = self.when
        day_from = max(w.day_from or today, today)
        day_to = max(w.day_to or (day_from + timedelta(days=self.policy.horizon_days)), day_from)
        if w.weekdays is not None and w.day_to == w.day_from is not None and w.day_from.weekday() not in w.weekdays:
            day_to = day_from + timedelta(days=self.policy.horizon_days)
        service = self.q.appointment_type or (self.target_booking.service if self.target_booking else "")
        provider = self.provider
        slots = cal.find_slots(service, day_from, day_to, after_local=w.after, before_local=w.before,
                               **({"provider": provider} if provider else {}))
        if w.weekdays is not None:
            slots = [s for s in slots if s.local_start.weekday() in w.weekdays]
        self._tool("find_slots", {"service": service, "from": str(day_from), "to": str(day_to), "after": str(w.after),
                                  "before": str(w.before), "provider": provider or ""}, len(slots))
        if after_start is not None:
            slots = [s for s in slots if s.start > after_start]
        return [s for s in slots if s.id not in self.declined_ids]

    def _pick_offers(self, slots: list) -> list:
        w = self.when
        if w.at is not None:
            def distance(s):
                at = datetime.combine(s.local_start.date(), w.at)
                return abs((s.local_start.replace(tzinfo=None) - at).total_seconds()) + \
                    (s.local_start.date() - slots[0].local_start.date()).days * 86400
            exact = [s for s in slots if s.local_start.time().replace(tzinfo=None) == w.at]
            near = sorted(slots, key=distance)
            if exact:
                return [exact[0]] + [s for s in near if s.start != exact[0].start and s.provider != exact[0].provider][:1]
            slots = near
        picked: list = []
        for s in slots:  # spread the options: at least 90 minutes apart
            if all(abs((s.start - p.start).total_seconds()) >= 5400 for p in picked):
                picked.append(s)
            if len(picked) == 2:
                break
        return sorted(picked, key=lambda s: s.start)

    def _offer(self, after_start=None, prefix: str = "I have"):
        try:
            slots = self._search(after_start)
        except Exception as exc:
            log.warning("calendar failure: %s", exc)
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        if not slots and not self.when.empty:
            asked = self.when
            self.when = parse.When(day_from=(asked.day_to or asked.day_from or self.now_local().date()) + timedelta(days=1)
                                   if asked.day_from else None, after=asked.after, before=asked.before,
                                   weekdays=asked.weekdays)
            try:
                slots = self._search()
                if not slots:  # nothing at that time of day either: any time
                    self.when = parse.When()
                    slots = self._search()
            except Exception as exc:
                return self._handoff(f"calendar tool failure: {exc}", "calendar")
            if slots:
                self.waitlist_when = asked  # what they asked for: a "no" to these can wait for it
                return self._present(self._pick_offers(slots), prefix="I don't have anything then. The next openings are")
        if not slots:
            if self._can_waitlist():
                self.waitlist_when, self.waitlist_else = parse.When(), "handoff"
                return self._ask("I'm sorry, I couldn't find an opening in the next few weeks. I can put you on our "
                                 "waitlist and text you if a time opens up. Would you like that?", "waitlist_offer",
                                 state=State.WAITLIST_OFFER, expect="yes_no")
            return self._handoff("no availability found", "no_availability",
                                 preface="I'm sorry, I couldn't find an opening in the next few weeks.")
        offers = self._pick_offers(slots)
        at = self.when.at
        if at is not None and prefix == "I have" and not any(o.local_start.time().replace(tzinfo=None) == at for o in offers):
            prefix = f"I don't have {spoken_time(at.strftime('%H:%M'))}. I have"  # "the 8:50 one": say so, then the nearest
        return self._present(offers, prefix=prefix)

    # -- the waitlist ([waitlist] enabled: policy.waitlist_days > 0) ----------------------------

    waitlist_when = None  # the times the caller asked for that had nothing free (parse.When)
    waitlist_else = "more"  # after a no to the waitlist: "more" times, or a "handoff" (none at all)

    def _can_waitlist(self) -> bool:
        return bool(self.policy.waitlist_days and self.calendar is not None and self.task == "book"
                    and (self.q.phone_number or self.caller_id))

    def _waitlist_offer(self):
        """A no to the next openings after the times asked for had none: wait for those instead?"""
        self.waitlist_else = "more"
        return self._ask("I can put you on our waitlist for the time you asked for, and text you if something opens "
                         "up. Would you like that? Or I can look for other times.", "waitlist_offer",
                         state=State.WAITLIST_OFFER, expect="yes_no")

    def _join_waitlist(self):
        from tools.waitlist import Waitlist

        w = self.waitlist_when or parse.When()
        today = self.now_local().date()
        day_from = max(w.day_from or today, today)
        day_to = w.day_to or w.day_from or today + timedelta(days=self.policy.waitlist_days)
        phone = self.q.phone_number or self.caller_id
        args = {"service": self.q.appointment_type, "from": day_from.isoformat(), "to": day_to.isoformat(),
                "after": str(w.after or ""), "before": str(w.before or ""), "provider": self.provider or ""}
        try:
            entry = Waitlist(self.calendar).add(self.q.appointment_type, day_from, day_to, self.full_name or "Unknown caller",
                                                phone, call_id=self.call_id, provider=self.provider, after=w.after,
                                                before=w.before)
        except Exception as exc:
            self._tool("join_waitlist", args, f"error: {exc}")
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self._tool("join_waitlist", args, entry.id)
        self._release()
        self.outcome, self.task_done, self.q.qualified = "waitlisted", True, "yes"
        return self._ask(f"You're on the waitlist. If a time opens up, we'll text {parse.speak_phone(phone)} and hold it "
                         "for you to reply yes. Is there anything else I can help with?", "waitlisted",
                         state=State.ANYTHING_ELSE)

    def _offer_more(self):
        last = max((s.start for s in self.offered), default=None)
        return self._offer(after_start=last + timedelta(minutes=89) if last else None, prefix="I also have")

    def _present(self, offers: list, prefix: str = "I have"):
        self.offered = offers
        self._tool("offer", {}, [{"id": s.id, "provider": s.provider, "start": s.start.isoformat(),
                                  "end": s.end.isoformat()} for s in offers])
        self.seen_slot_ids.update(s.id for s in offers)
        words = [self.slot_words(s) for s in offers]
        options = words[0] if len(words) == 1 else ", or ".join(words)
        if len(offers) > 1 and len({s.provider for s in offers}) == 1:
            # one provider: said once ("... at 10 AM, or at 11:30 AM, both with Dr. Patel"), so
            # that a name heard differently the second time does not sound like another doctor
            days = [day_words(s.local_start) for s in offers]
            times = [f"at {spoken_time(s.local_start.strftime('%H:%M'))}" for s in offers]
            parts = [t if i and days[i] == days[i - 1] else f"{d} {t}" for i, (d, t) in enumerate(zip(days, times))]
            options = ", or ".join(parts) + f", {'both' if len(offers) == 2 else 'all'} with {offers[0].provider}"
        question = "Does that work?" if len(offers) == 1 else "Which would you prefer?"
        return self._ask(f"{prefix} {options}. {question}", "offer", state=State.OFFER, expect="choice")

    def slot_words(self, s) -> str:
        t = s.local_start
        return f"{day_words(t)} at {spoken_time(t.strftime('%H:%M'))} with {s.provider}"

    def _choose(self, slot):
        from tools.calendar import SlotTaken

        if slot.id not in self.seen_slot_ids:  # never book what this call was not offered
            return None
        self._release()
        try:
            self.hold = self.calendar.hold(slot, self.call_id, ttl_s=self.policy.hold_ttl_s)
            self._tool("hold", {"slot": slot.id}, self.hold.id)
        except Exception as exc:
            self._tool("hold", {"slot": slot.id}, f"error: {exc}")
            if isinstance(exc, SlotTaken):
                self.offered = [s for s in self.offered if s.id != slot.id]
                turn = self._offer()
                turn.text = "I'm sorry, that time was just taken. " + turn.text
                return turn
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.chosen = slot
        return self._read_back()

    def _read_back(self):
        slot = self.chosen
        where = f" at {self.clinic.address}" if self.clinic.address else ""
        what = self.q.appointment_type or (self.target_booking.service if self.target_booking else "appointment")
        move = "move your appointment to" if self.task == "reschedule" else "book"
        t = slot.local_start
        article = "an" if what[:1].lower() in "aeiou" else "a"
        return self._ask(f"To confirm, I'll {move} {article} {what} with {slot.provider} on {day_words(t)} at "
                         f"{spoken_time(t.strftime('%H:%M'))}{where}. Shall I go ahead?", "read_back", state=State.CONFIRM,
                         expect="yes_no")

    def _book(self):
        from tools.calendar import CallerInfo, HoldExpired

        if self.hold is None or self.chosen is None:
            return self._next()
        info = CallerInfo(name=self.full_name or "Unknown caller", phone=self.q.phone_number, email=self.q.email,
                          reason=self.q.reason, new_patient=self.q.new_patient, sms_opt_out=self.sms_opt_out,
                          dob=self.q.dob, name_unverified=self.name_unverified)
        replaces = self.target_booking.id if self.task == "reschedule" and self.target_booking else None
        try:
            self.booking = self.calendar.book(self.hold.id, info, self.call_id, replaces=replaces)
            self._tool("create_booking", {"hold": self.hold.id, "replaces": replaces}, self.booking.id)
        except HoldExpired:
            self.hold = None
            turn = self._offer()
            turn.text = "I'm sorry, that hold expired. " + turn.text
            return turn
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.hold = None
        self.q.qualified = "yes"
        self.outcome = "rescheduled" if replaces else "booked"
        self.task_done = True
        self._confirmations(self.booking)
        sent = self._confirmation_words(self.booking.email)
        done = "Your appointment is moved." if replaces else "You're all set."
        if self._wants_consent():
            return self._ask(f"{done} {sent}Would you also like a reminder phone call before your appointment? "
                             "You can say yes or no.", "reminder_consent", state=State.REMINDER_CONSENT, expect="yes_no")
        return self._ask(f"{done} {sent}Is there anything else I can help with?", "booked", state=State.ANYTHING_ELSE)

    def _wants_consent(self) -> bool:
        """[reminders] calls: a caller with a number and no consent on file is asked for it."""
        if not self.policy.reminder_calls or not self.q.phone_number:
            return False
        from tools.reminder_calls import has_consent
        try:
            return not has_consent(self.calendar, self.q.phone_number)
        except Exception as exc:  # the booking stands; the question is not worth failing the call over
            log.warning("reminder call consent not checked: %s", exc)
            return False

    def _confirmations(self, booking) -> None:
        enqueue = getattr(self.calendar, "enqueue_confirmation", None)
        if enqueue is None:
            return
        for channel in self.policy.confirm_by:
            if channel == "email" and not booking.email:
                continue
            try:
                enqueue(booking.id, channel)
                self._tool("send_confirmation", {"channel": channel}, "queued")
            except Exception as exc:  # the booking stands; staff see the failure in the outbox
                log.warning("confirmation could not be queued: %s", exc)

    def _confirmation_words(self, email: str) -> str:
        channels = [c for c in self.policy.confirm_by if c != "email" or email]
        if "email" in channels and "sms" in channels:
            return "I'll send a confirmation by text and email. "
        if "email" in channels:
            return "I'll email you a confirmation. "
        if "sms" in channels:
            return "I'll text you a confirmation. "
        return ""

    def _already_booked(self):
        """The caller asks again for the booking this call just made (they did not hear it go
        through): say what is booked rather than book it twice."""
        b = self.booking
        self._booked_again += 1
        if self._booked_again >= 3:
            # asked a third time (khaled-mansour, persona run 12: twenty times): no loop; the booking
            # stands, the text confirmation says it again, and the call ends
            from .conversation import AgentTurn
            return self._say(AgentTurn(f"Your {b.service} is booked for {_when(b)}, and the text confirmation has "
                                       "the details. Thank you for calling. Goodbye.", hangup=True, intent="goodbye"))
        return self._ask(f"You're already booked: your {b.service} with {b.provider} on {_when(b)}. "
                         "Is there anything else I can help with?", "booked", state=State.ANYTHING_ELSE)

    _booked_again = 0

    # -- FAQ, handoff, goodbye -----------------------------------------------------------

    def faq_answer(self, topic: str, text: str = "") -> str | None:
        """The clinic's answer to a topic; None when it has none configured. ``text``, the
        caller's words, narrows it: the day asked about, the insurance plan named."""
        t = text.lower()
        if topic == "hours":
            today = self.now_local().date()
            days = [d for d in ORDER if re.search(rf"\b{DAY_NAMES[d].lower()}s?\b", t)]
            if re.search(r"\b(today|tonight)\b", t):
                return hours_on(self.clinic.hours, ORDER[today.weekday()], "today")
            if re.search(r"\btomorrow\b", t):
                return hours_on(self.clinic.hours, ORDER[(today.weekday() + 1) % 7], "tomorrow")
            if len(days) == 1:
                return hours_on(self.clinic.hours, days[0])
            return describe_hours(self.clinic.hours)
        if topic == "address":
            return f"We're at {self.clinic.address}." if self.clinic.address else None
        if topic == "parking":
            return self.policy.parking or None
        if topic == "insurance":
            plans = list(self.policy.insurance)
            if not plans:
                return None
            accepted = "We accept " + (", ".join(plans[:-1]) + f", and {plans[-1]}" if len(plans) > 1 else plans[0]) + "."
            named = next((p for p in plans if p.lower() in t), None)
            if named:
                return f"Yes, we accept {named}."
            other = re.search(r"\b(blue cross( blue shield)?|humana|united ?health\w*|medicaid|medicare|guardian|kaiser|"
                              r"anthem|tricare|geha|ameritas|principal|sun life|bupa|vhi|laya)\b", t)
            if other:
                return f"We don't accept {other.group(0).title()}. {accepted}"
            return accepted
        entry = next((e for e in self.faq_entries if e.id == topic), None)
        return entry.answer if entry else None

    def _handoff(self, reason: str, kind: str, preface: str = ""):
        from .conversation import AgentTurn

        self._release()
        self.q.handoff_reason = reason
        self.q.qualified = "needs human review"
        self.outcome = "transferred" if (self.policy.front_desk_uri and self.is_open_now()) else "callback"
        urgency = "urgent" if kind == "emergency" else ("normal" if self.q.urgency == "unknown" else self.q.urgency)
        if self.q.urgency == "unknown":
            self.q.urgency = urgency
        self.task_done = True
        if self.outcome == "transferred":
            return self._say(AgentTurn(f"{preface} I'll transfer you to our front desk now.".strip(), intent=f"handoff_{kind}",
                                       transfer_to=self.policy.front_desk_uri, hangup=True))
        self.create_callback(reason)
        when = "as soon as we open" if not self.is_open_now() else "shortly"
        phone = self.q.phone_number or self.caller_id
        number = f" at {parse.speak_phone(phone)}" if phone else ""
        return self._ask(f"{preface} I've asked a member of our staff to call you back{number} {when}. "
                         "Is there anything else I can help with?".strip(), f"handoff_{kind}", state=State.ANYTHING_ELSE)

    def create_callback(self, reason: str) -> None:
        if self.calendar is None:
            self.requests.append({"type": "callback", "reason": reason})
            return
        try:
            task = self.calendar.add_callback(self.call_id, reason, self.full_name, self.q.phone_number or self.caller_id or "",
                                              details={"qualification": asdict(self.q), "transcript": self.history[-12:]},
                                              urgency="urgent" if self.q.urgency in ("urgent", "emergency") else "normal")
            self._tool("create_callback", {"reason": reason}, task.id)
        except Exception as exc:  # the call log still holds everything
            log.error("could not create a callback task: %s", exc)
        self.requests.append({"type": "callback", "reason": reason})

    def _release(self) -> None:
        if self.hold is not None and self.calendar is not None:
            try:
                self.calendar.release_holds(self.call_id)
            except Exception as exc:
                log.warning("could not release holds: %s", exc)
            self.hold = None


def _when(b) -> str:
    return f"{day_words(b.start)} at {spoken_time(b.start.strftime('%H:%M'))}"
