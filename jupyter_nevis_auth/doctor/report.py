"""The doctor's report: one line per check, ✓ ✗ ! or -, a sentence saying what to do; or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

#: Characters of a provider-supplied text shown at most.
MAX_SHOWN = 120

Status = Literal["passed", "failed", "not confirmed", "not run"]
#: How each status is marked, and the words for a terminal that cannot show the marks.
MARKS: dict[Status, str] = {
    "passed": "\u2713",
    "failed": "\u2717",
    "not confirmed": "!",
    "not run": "-",
}
PLAIN_MARKS: dict[Status, str] = {
    "passed": "OK",
    "failed": "FAIL",
    "not confirmed": "WARN",
    "not run": "SKIP",
}
#: Exit codes: every check passed; one failed; none failed, but one is not confirmed.
ALL_PASSED, PROBLEMS, NOT_CONFIRMED = 0, 1, 3


@dataclass(frozen=True)
class Check:
    """The outcome of one step: `detail` says what was found, `fix` what to do (unless passed).

    `ok` is true for a passed check only: one not confirmed found nothing wrong, but
    proved nothing right either, and one not run checked nothing.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    status: Status = "passed"


def passed(name: str, detail: str) -> Check:
    """A check that found nothing wrong."""
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    """A check that found something to change."""
    return Check(name, False, detail, fix, "failed")


def unconfirmed(name: str, detail: str, fix: str) -> Check:
    """A check whose answer would look the same whether or not the setting is right."""
    return Check(name, False, detail, fix, "not confirmed")


def not_run(name: str, why: str) -> Check:
    """A check left out because `why` (an earlier one failed): it says nothing either way."""
    return Check(name, False, f"not run, as {why}", status="not run")


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

    @property
    def exit_code(self) -> int:
        """0 when every check passed, 1 when one failed, else 3: something is not confirmed."""
        if self.ok:
            return ALL_PASSED
        return PROBLEMS if any(c.status == "failed" for c in self.checks) else NOT_CONFIRMED

    def add(self, check: Check) -> Check:
        """Record `check` (a provider may echo a secret back: it never reaches the output)."""
        masked = replace(check, detail=self._mask(check.detail), fix=self._mask(check.fix))
        self.checks.append(masked)
        return masked

    def _mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:  # shorter ones would mask ordinary words
                text = text.replace(secret, "***")
        return text

    def lines(self, marks: dict[Status, str] = MARKS) -> list[str]:
        """One line per check: `✓ name: detail`, `✗ name: detail; fix`, `! ...; fix`, `- ...`."""
        return [
            f"{marks[c.status]} {c.name}: {c.detail}" + (f"; {c.fix}" if c.fix else "")
            for c in self.checks
        ]

    def json(self) -> str:
        """For scripts: {"ok": bool, "checks": [{"name", "ok", "detail", "fix", "status"}]}."""
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)
