"""What the agent last asked: the state of a call's conversation. A StrEnum, so a state is also its
name as a string (in records, logs and the model's prompt)."""

from enum import StrEnum


class State(StrEnum):
    OPEN = "open"  # How can I help you today?
    ANYTHING_ELSE = "anything_else"  # Is there anything else I can help with?
    SERVICE = "service"  # What kind of appointment?
    NAME = "name"  # Your first and last name?
    SPELLING = "spelling"  # Spell your (last) name?
    SPELLING_FIRST = "spelling_first"  # Spell your first name?
    SPELLING_CHECK = "spelling_check"  # The spelling read back: is that right?
    KNOWN_CALLER = "known_caller"  # Am I speaking with (the name on file)?
    PHONE_CONFIRM = "phone_confirm"  # Is the number you're calling from the best one?
    PHONE = "phone"  # What's the best number to reach you?
    PHONE_CHECK = "phone_check"  # A number read back: is that right?
    DOB = "dob"  # Date of birth?
    EMAIL = "email"  # Email address?
    EMAIL_CHECK = "email_check"  # The address read back: is that right?
    INSURANCE = "insurance"  # Which insurance?
    NEW_PATIENT = "new_patient"  # New patient?
    REASON = "reason"  # The reason for the visit?
    WHEN = "when"  # What day and time?
    OFFER = "offer"  # Which of the offered times?
    CONFIRM = "confirm"  # The booking read back: shall I go ahead?
    CANCEL_CONFIRM = "cancel_confirm"  # The appointment found: shall I cancel it?
    LOOKUP_RETRY = "lookup_retry"  # Not found: another number, or the spelled name?
    CALLBACK_OFFER = "callback_offer"  # Shall someone call you back about that?
    BOOK_OFFER = "book_offer"  # Would you like to book one?
    WAITLIST_OFFER = "waitlist_offer"  # Nothing suits: shall I put you on the waitlist?
    REMINDER_CONSENT = "reminder_consent"  # Would you like a reminder call before it? (reminders.calls)
    SURVEY = "survey"  # On a scale of 1 to 5, how did this call go? (optional, at the end)
