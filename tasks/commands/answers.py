"""When a health check stops waiting: the rule every probe shares, as Python source the probes include.

A probe asks until the app answers the expected status or its timeout passes. An answer that cannot
become healthy ends the wait at once: the same other status `SAME_ANSWERS` times in a row. 502, 503 and
504 are what a front server answers while the app starts, so they never end it (they reset the count). A
400 adds a hint: it is how Django answers a Host header that ``ALLOWED_HOSTS`` does not list.
"""
from __future__ import annotations

SAME_ANSWERS = 3

# Defines `settled(status)` (True: end the wait) and `verdict(last, status, host)` (the error line).
ANSWER_RULE = f'''
STARTING = (502, 503, 504)
_same = [0, 0]
def settled(status):
    if status in STARTING:
        _same[:] = [0, 0]
        return False
    _same[:] = [status, _same[1] + 1 if _same[0] == status else 1]
    return _same[1] >= {SAME_ANSWERS}
def verdict(last, status, host):
    head, _, rest = last.partition(": ")
    hint = ""
    if status == 400:
        hint = (" (a 400 is how Django refuses a Host it does not allow: the check sent Host: %s; "
                "add it to ALLOWED_HOSTS)" % host)
    return "%s {SAME_ANSWERS} times in a row: %s%s" % (head, rest, hint)
'''
