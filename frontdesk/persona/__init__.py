"""Simulated callers: a persona (facts and a style) that listens to the agent and answers.

spec (the persona file), hearing (what the agent asked, from what the caller heard), brain
(what to say), words (numbers, dates and spellings as speech), live (the call itself, over
pjsua2), verdict (what the clinic's database holds afterwards) and run (the CLI).
"""
