"""`jupyter nevis-auth doctor`: the command, its options, and the order of the checks."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from jupyter_core.application import JupyterApp, base_flags
from traitlets import Bool, TraitError, Unicode
from traitlets.config import Config

from ..core.apis import parse_apis
from ..core.config import NevisAuth
from ..core.providers import Provider, build_providers, unset_protections
from ..core.urls import CALLBACK_PATH, join
from ..errors import NevisAuthError, ProviderError, SettingsError
from ..protocol import DEFAULT_PROVIDER
from . import checks, probes
from .context import Context, unreachable, unreachable_fix
from .hub_mode import hub_service
from .report import MARKS, PLAIN_MARKS, Check, Report, clause, failed, not_run
from .settings import configuration
from .sources import Sources, load

Step = Callable[[Context, str], Awaitable[Check]]
#: The checks of each provider, in order; all but the first need its discovery.
STEPS: tuple[tuple[str, Step], ...] = (
    ("discovery", checks.discovery),
    ("provider features", checks.features),
    ("keys", checks.keys),
    ("scopes", checks.scopes),
    ("client authentication", probes.client_authentication),
    ("redirect URI", probes.redirect_uri),
)
#: Provider timeouts a step may take: discovery alone may call the provider three times.
STEP_BUDGET = 4
#: What traitlets logs when a config file raises.
CONFIG_FILE_FAILED = "Exception while loading config file %s"
#: Exit code for a command line the doctor cannot use (the report's own are 0, 1 and 3).
USAGE = 2


def not_run_after(report: Report, prefix: str, first: int, why: str) -> None:
    """The steps of a provider from STEPS[first] on, and the clock, as not run because `why`:
    shown, not left out, so that a reader does not take a missing line for a pass."""
    for step, _ in STEPS[first:]:
        report.add(not_run(prefix + step, why))
    report.add(not_run(prefix + "clock", why))


class Collected(logging.Handler):
    """Keeps the errors logged while the configuration is read, for the configuration check."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message (it never holds a value: the product logs names only)."""
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        if record.msg == CONFIG_FILE_FAILED and record.args:
            # traitlets' own message; the traceback may show values, so only its type is kept.
            text = f"Fix the config file {record.args[0]}: it raised {error}"  # type: ignore[index]
        else:
            text = record.getMessage().rstrip(".") + (f" ({error})" if error else "")
        self.messages.append(text + ".")


def quiet_logger(name: str, *handlers: logging.Handler) -> logging.Logger:
    """A logger of the doctor's own that writes only to `handlers`."""
    log = logging.getLogger(f"jupyter_nevis_auth.doctor.{name}")
    log.propagate = False
    log.handlers = list(handlers) or [logging.NullHandler()]
    log.setLevel(logging.DEBUG)
    return log


class DoctorApp(JupyterApp):
    """Checks the jupyter-nevis-auth configuration against the real provider, step by step."""

    name = "jupyter-nevis-auth-doctor"
    description = """Check the jupyter-nevis-auth configuration against the real provider, step
    by step: the configuration (the server's config files, the command line and NEVIS_AUTH_*
    env vars), discovery, what the provider offers, its keys, the scopes, client
    authentication, the redirect URI and the clock. One line per check, and for each problem
    what to change. Nothing is created at the provider. Exit code 0 when every check passes,
    1 when one fails, 2 for a command line it cannot use, 3 when none fails but one could
    not be confirmed (the provider's answer would look the same were the setting wrong)."""
    examples = """
jupyter nevis-auth doctor
jupyter nevis-auth doctor --server-url=https://jupyter.example.org
jupyter nevis-auth doctor --json --NevisAuth.http_timeout=5
"""
    classes = [NevisAuth]  # noqa: RUF012 (traitlets' own class attribute)
    aliases = {  # noqa: RUF012
        "server-url": "DoctorApp.server_url",
        "redirect-uri": "DoctorApp.redirect_uri",
        "config": "DoctorApp.config_file",
        "log-level": "Application.log_level",
    }
    flags = {  # noqa: RUF012
        "json": ({"DoctorApp": {"json_output": True}}, "Print the result as JSON."),
        "debug": base_flags["debug"],
    }

    json_output = Bool(
        False,
        config=True,
        help="""Print {"ok": ..., "checks": [{"name", "ok", "detail", "fix", "status"}]}
        instead of one line per check (status: passed, failed, not confirmed or not run).""",
    )
    server_url = Unicode(
        "",
        config=True,
        help="""The URL users open Jupyter at (e.g. https://jupyter.example.org): with
        ServerApp.base_url it gives the redirect URI to check when NevisAuth.redirect_uri is
        not set.""",
    )
    redirect_uri = Unicode(
        "",
        config=True,
        help="The redirect URI to check when NevisAuth.redirect_uri is not set.",
    )

    #: The configuration as loaded, and where each value came from (see load_config_file).
    sources: Sources

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """Read the files Jupyter Server and the extension read, noting which set what."""
        self.collected = Collected()
        self.config_log = quiet_logger("config", self.collected)
        self.sources = load(
            self.config_file_paths, self.config_file, self.cli_config, self.config_log
        )
        self.update_config(self.sources.config)

    def start(self) -> None:
        """Run the checks, print them, and exit with the report's code, or 2 (usage)."""
        usage = self.usage_problem()
        if usage:
            print(usage, file=sys.stderr)
            self.exit(USAGE)
        report = asyncio.run(self.diagnose())
        if self.json_output:
            print(report.json())
        else:
            marks = MARKS
            try:
                "".join(marks.values()).encode(sys.stdout.encoding or "ascii")
            except UnicodeEncodeError:
                marks = PLAIN_MARKS
            print("\n".join(report.lines(marks)))
        self.exit(report.exit_code)

    def usage_problem(self) -> str | None:
        """A sentence when the command line cannot be used."""
        if self.extra_args:
            return f"Unexpected argument {self.extra_args[0]!r}; see --help."
        given = self.cli_config.get("NevisAuth", {})
        unknown = sorted(set(given) - set(NevisAuth.class_trait_names(config=True)))
        if unknown:
            return f"--NevisAuth.{unknown[0]} is not an option; see --help-all."
        bad = self.unusable(given)
        if bad:
            # Not the value: it may be a secret.
            return f"--NevisAuth.{bad[0]} must be {bad[1]}."
        for option in ("server_url", "redirect_uri"):
            value = getattr(self, option)
            parts = urlsplit(value)
            if value and (parts.scheme not in ("http", "https") or not parts.netloc):
                flag = "--" + option.replace("_", "-")
                return f"{flag} must be an absolute http(s) URL, not {value!r}."
        return None

    def unusable(self, given: dict[str, object]) -> tuple[str, str] | None:
        """The first NevisAuth option of `given` whose value it cannot take, and what the
        value must be."""
        traits = NevisAuth.class_traits(config=True)
        # Its own log: each probe reads the env vars again, whose lines the check has once.
        quiet = quiet_logger("probe")
        for name, value in given.items():
            try:
                NevisAuth(config=Config({"NevisAuth": {name: value}}), log=quiet)
            except (TraitError, ValueError):
                return name, traits[name].info()
        return None

    async def diagnose(self) -> Report:
        """Every check, in order; a provider's checks stop at a failed discovery."""
        bad = self.unusable(self.sources.config.get("NevisAuth", {}))
        if bad:
            origin = self.sources.top_origin(bad[0])
            report = Report(secrets=set())
            fix = f"set it to {bad[1]} in {origin}"
            report.add(failed("configuration", f"NevisAuth.{bad[0]} is not {bad[1]}", fix))
            not_run_after(report, "", 0, "the configuration failed")
            return report
        top = NevisAuth(parent=self, log=self.config_log)
        debug = self.log_level <= logging.DEBUG  # type: ignore[operator]
        log = quiet_logger("provider", *([logging.StreamHandler()] if debug else []))
        if top.hub_mode:
            # The hub's service holds the client and runs the sign-ins: only it is checked.
            report = Report(secrets={os.environ.get("JUPYTERHUB_API_TOKEN", "")} - {""})
            report.add(await hub_service(top, log))
            return report
        if not debug:
            # Tornado reports a failed TLS handshake itself; the discovery check says it better.
            logging.getLogger("tornado").addHandler(logging.NullHandler())
        providers, left_out = build_providers(top, log)
        apis, apis_left_out = parse_apis(top.apis, providers)
        report = Report(secrets=await secrets_of(top, providers))
        base = report.add(
            configuration("configuration", self.sources, top, None, self.collected.messages)
        )
        if left_out or apis_left_out:
            report.add(
                failed(
                    "providers and APIs",
                    f"{len(left_out + apis_left_out)} left out",
                    clause(" ".join(left_out + apis_left_out)),
                )
            )
        for name, provider in providers.items():
            if name == DEFAULT_PROVIDER:
                prefix, usable = "", base.ok
            else:
                prefix = f"{name}: "
                entry = top.providers[name]
                unset = unset_protections(name, entry, top)
                usable = report.add(
                    configuration(
                        prefix + "configuration", self.sources, provider.config, entry, unset
                    )
                ).ok
            if usable:
                mine = [a for a in apis.values() if a.provider == name]
                ctx = Context(provider, mine, *self.redirect(top, provider))
                await self.check_provider(ctx, prefix, report, log)
            else:
                not_run_after(report, prefix, 0, "the configuration failed")
        return report

    async def check_provider(
        self, ctx: Context, prefix: str, report: Report, log: logging.Logger
    ) -> None:
        """The steps of one provider; the clock from the first answer that had a Date."""
        for index, (step_name, step) in enumerate(STEPS):
            check = report.add(await bounded(step, ctx, prefix + step_name, log))
            if step is checks.discovery and not check.ok:
                not_run_after(report, prefix, index + 1, "discovery failed")
                return
        if ctx.clock is not None:
            report.add(await bounded(checks.clock, ctx, prefix + "clock", log))

    def redirect(self, top: NevisAuth, provider: Provider) -> tuple[str, str]:
        """The redirect URI to check and where it came from ("" when there is none)."""
        if provider.config.redirect_uri:
            entry = top.providers.get(provider.name) if provider.config is not top else None
            origin = self.sources.origin(provider.config, "redirect_uri", entry)
            return provider.config.redirect_uri, origin
        if top.redirect_uri:
            return top.redirect_uri, self.sources.top_origin("redirect_uri")
        if self.redirect_uri:
            return self.redirect_uri, "--redirect-uri"
        if self.server_url:
            base_url = self.config.get("ServerApp", {}).get("base_url", "/")
            derived = self.server_url.rstrip("/") + join("/" + base_url.strip("/"), CALLBACK_PATH)
            return derived, "from --server-url and ServerApp.base_url"
        return "", ""


async def bounded(step: Step, ctx: Context, name: str, log: logging.Logger) -> Check:
    """One step within its time budget; any failure becomes a ✗ with a sentence."""
    budget = STEP_BUDGET * ctx.config.http_timeout
    try:
        return await asyncio.wait_for(step(ctx, name), budget)
    except asyncio.TimeoutError:
        return failed(
            name,
            f"not finished within {budget:g} s",
            "check that this machine can reach the provider, or raise NevisAuth.http_timeout.",
        )
    except ProviderError as e:
        return failed(name, unreachable(ctx.config, e), unreachable_fix(ctx, e))
    except NevisAuthError as e:
        detail, _, fix = str(e).partition("; ")
        return failed(name, detail.rstrip("."), clause(fix) if fix else "fix this first.")
    except Exception as e:  # a bug must not hide the other checks
        log.debug("The %s check failed", name, exc_info=True)
        return failed(
            name,
            f"failed unexpectedly ({type(e).__name__})",
            "run the doctor with --debug for the details.",
        )


async def secrets_of(top: NevisAuth, providers: dict[str, Provider]) -> set[str]:
    """Every secret of the configuration, masked wherever it would appear in the output."""
    found = {k.strip() for k in top.store_key.split(",")}
    try:
        found.update(k.strip() for k in (await asyncio.to_thread(top.get_store_key)).split(","))
    except SettingsError:
        pass  # the configuration check says why
    for provider in providers.values():
        found.add(provider.config.client_secret)
        try:
            found.add(await asyncio.to_thread(provider.config.get_client_secret))
        except SettingsError:
            pass  # the configuration check says why
    return {s for s in found if s}
