"""The doctor's report: one line per check, ✓ or ✗, a sentence saying what to change; or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

#: Characters of a provider-supplied text shown at most.
MAX_SHOWN = 120


@dataclass(frozen=True)
class Check:
    """The outcome of one step: `detail` says what was found, `fix` what to change (when not ok)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> Check:
    """A check that found nothing wrong."""
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    """A check that found something to change."""
    return Check(name, False, detail, fix)


def shown(text: object) -> str:
    """A provider-supplied value made safe to print: printable, shortened, quoted."""
    value = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    if len(value) > MAX_SHOWN:
        value = value[: MAX_SHOWN - 1] + "\u2026"
    return f"\u201c{value}\u201d"


def clause(sentence: str) -> str:
    """`sentence` to follow a semicolon: a leading plain word in lower case ("Set" -> "set")."""
    first = sentence.split(" ", 1)[0]
    if first.isalpha() and first[1:].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence


@dataclass
class Report:
    """Every check made, in order; secrets are masked wherever they would appear."""

    checks: list[Check] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.ok for c in self.checks)

    def add(self, check: Check) -> Check:
        """Record `check` (a provider may echo a secret back: it never reaches the output)."""
        masked = Check(check.name, check.ok, self._mask(check.detail), self._mask(check.fix))
        self.checks.append(masked)
        return masked

    def _mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:  # shorter ones would mask ordinary words
                text = text.replace(secret, "***")
        return text

    def lines(self, marks: tuple[str, str] = ("\u2713", "\u2717")) -> list[str]:
        """One line per check: `✓ name: detail` or `✗ name: detail; fix`."""
        good, bad = marks
        return [
            f"{good} {c.name}: {c.detail}" if c.ok else f"{bad} {c.name}: {c.detail}; {c.fix}"
            for c in self.checks
        ]

    def json(self) -> str:
        """The report for scripts: {"ok": bool, "checks": [{"name", "ok", "detail", "fix"}]}."""
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)
