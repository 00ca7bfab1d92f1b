"""`revenue-assets webhooks serve | register | status` (no Dagster import: starts fast)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import click

from revenue_assets.cli.common import load_settings
from revenue_assets.settings import Settings
from revenue_assets.stripe_api.errors import redact
from revenue_assets.webhooks.secrets import SecretError, parse_secrets


def _env_secrets(settings: Settings) -> tuple[str, ...]:
    try:
        return tuple(parse_secrets(settings.webhook_secret))
    except SecretError as error:
        click.secho(f"revenue_assets cannot start: {error}", fg="red", err=True)
        sys.exit(2)


@click.group()
def webhooks() -> None:
    """Receive Stripe webhooks into the event inbox; register and check the endpoint."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port (0: any free).")
@click.option(
    "--max-body-bytes",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(1024),
    help="Larger deliveries get 413.",
)
@click.option(
    "--tolerance",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="Seconds a signature stays valid (replay protection).",
)
@click.option(
    "--lock-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds a commit waits for another writer of the state file before answering 503.",
)
@click.option(
    "--synchronous",
    default="full",
    show_default=True,
    type=click.Choice(["full", "normal"]),
    help="SQLite durability of an acknowledged event. full: survives power loss and OS "
    "crashes (one fsync per group commit). normal: survives the receiver being killed, not "
    "an OS crash; for disks where fsync is slow.",
)
@click.option(
    "--read-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a request (headers and body) has to arrive whole; slower clients get 408.",
)
@click.option(
    "--max-connections",
    default=4096,
    show_default=True,
    type=click.IntRange(1),
    help="Connections held at once (fewer if the open-file limit is lower). Beyond it, the "
    "oldest connection still sending its request is closed to make room.",
)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option("--access-log", is_flag=True, help="Log every request (costs throughput).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line when ready.")
def serve(
    host: str,
    port: int,
    max_body_bytes: int,
    tolerance: int,
    lock_timeout: float,
    synchronous: str,
    read_timeout: float,
    max_connections: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
    access_log: bool,
    as_json: bool,
) -> None:
    """Receive Stripe webhooks: verify, store durably in the inbox, then answer 200.

    The signing secret comes from STRIPE_WEBHOOK_SECRET (several, comma-separated, while a
    secret rolls), else from the state file, where `webhooks register` stores it. Run it next to
    `dagster dev`; the <table>_webhooks sensors apply what it stores. Stripe needs HTTPS: put a
    TLS proxy in front, or pass --ssl-certfile/--ssl-keyfile.
    """
    from revenue_assets.webhooks.receiver import ReceiverConfig, ReceiverError
    from revenue_assets.webhooks.server import serve as run

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together.")
    settings = load_settings(require_key=False)
    _log_to_stderr(log_level)
    config = ReceiverConfig(
        state_path=settings.state_path,
        env_secrets=_env_secrets(settings),
        max_body_bytes=max_body_bytes,
        tolerance_s=tolerance,
        lock_timeout_s=lock_timeout,
        synchronous=synchronous.upper(),
        read_timeout_s=read_timeout,
        max_connections=max_connections,
    )

    def ready(url: str, receiver: Any) -> None:
        if as_json:
            info = {
                "url": url,
                "pid": os.getpid(),
                "state": str(settings.state_path),
                "secrets": receiver.verifier.source.describe,
                "max_connections": receiver.connections.max_connections,
            }
            click.echo(json.dumps(info))
        else:
            click.echo(
                f"Receiving Stripe webhooks at {url} (any path) into {settings.state_path}, "
                f"{receiver.verifier.source.describe}; health at {url}/healthz. Ctrl-C stops."
            )
        sys.stdout.flush()

    ssl = (ssl_certfile, ssl_keyfile) if ssl_certfile and ssl_keyfile else None
    try:
        run(
            config,
            host=host,
            port=port,
            on_ready=ready,
            log_level=log_level,
            access_log=access_log,
            ssl=ssl,
        )
    except ReceiverError as error:
        click.secho(f"revenue_assets cannot start the receiver: {error}", fg="red", err=True)
        sys.exit(2)
    except OSError as error:
        click.secho(f"Cannot listen on {host}:{port}: {error}", fg="red", err=True)
        sys.exit(2)


def _log_to_stderr(level: str) -> None:
    """Our log lines next to uvicorn's, in its format (uvicorn configures only its loggers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:  %(message)s"))
    logger = logging.getLogger("revenue_assets")
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _check_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter("must be an http(s) URL, e.g. https://hooks.example.com/stripe")
    return value


@webhooks.command()
@click.option(
    "--url",
    required=True,
    callback=_check_url,
    help="Public HTTPS URL Stripe posts to (reaching `webhooks serve`).",
)
@click.option("--enable", is_flag=True, help="Re-enable the endpoint if it is disabled.")
@click.option(
    "--secret",
    metavar="WHSEC",
    help="Store this signing secret for an existing endpoint (copied from the Dashboard).",
)
@click.option(
    "--recreate",
    is_flag=True,
    help="Replace an existing endpoint by a new one (same URL and types, new stored secret).",
)
def register(url: str, enable: bool, secret: str | None, recreate: bool) -> None:
    """Create or reconcile the Stripe endpoint with the event types of the synced tables.

    Types the endpoint already receives are kept. The signing secret, which Stripe returns only
    when it creates an endpoint, is stored in the state file (mode 0600).
    """
    from revenue_assets.state.store import StateStore
    from revenue_assets.webhooks.registration import (
        RegistrationError,
        register_endpoint,
        secret_help,
        stripe_client,
    )

    settings = load_settings(require_key=True)
    env_secrets = _env_secrets(settings)
    if urlsplit(url).scheme == "http" and urlsplit(url).hostname not in ("localhost", "127.0.0.1"):
        click.secho("Note: Stripe requires an HTTPS URL for live mode endpoints.", fg="yellow")
    try:
        with StateStore(settings.state_path) as inbox:
            result = register_endpoint(
                stripe_client(settings),
                inbox,
                url,
                enable=enable,
                secret=secret,
                recreate=recreate,
                env_secret_set=bool(env_secrets),
            )
    except RegistrationError as error:
        click.secho(str(error), fg="red", err=True)
        sys.exit(1)
    view = result.endpoint
    click.echo(f"Webhook endpoint {view.id} {result.action} for {view.url}")
    click.echo(
        f"  status: {view.status}, API version {view.api_version or 'account default'}, "
        f"{len(view.enabled_events)} event types"
    )
    if result.added_types:
        click.echo(f"  added {len(result.added_types)}: {', '.join(result.added_types)}")
    if result.reenabled:
        click.echo("  re-enabled")
    if result.secret_stored:
        click.echo(f"  signing secret stored in {settings.state_path} (mode 0600)")
        if env_secrets:
            click.secho(
                "  note: STRIPE_WEBHOOK_SECRET is set and overrides the stored secret: unset it "
                "where the receiver runs, or set it to this endpoint's secret.",
                fg="yellow",
            )
    elif env_secrets:
        click.echo("  signing secret: STRIPE_WEBHOOK_SECRET (it overrides any stored one)")
    for note in result.notes:
        click.secho(f"  note: {note}", fg="yellow")
    if result.needs_secret:
        click.secho("\nNo signing secret for this endpoint.", fg="red", err=True)
        click.echo(secret_help(url), err=True)
        sys.exit(1)
    click.echo("Next: `revenue-assets webhooks serve` where that URL leads; `webhooks status`.")


def _when(at: float | None, now: float) -> str:
    from revenue_assets.webhooks.health import ago

    if at is None:
        return "never"
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({ago(now, at)})"


@webhooks.command()
@click.option("--url", help="Show the endpoint with this URL (default: the registered one).")
@click.option("--offline", is_flag=True, help="Skip Stripe's side (no API call).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(url: str | None, offline: bool, as_json: bool) -> None:
    """Stripe's side (URL, enabled, event types, missing types) and ours (inbox health).

    Exits 1 when something needs attention: failing health, or an endpoint that is missing,
    disabled or lacks event types.
    """
    from revenue_assets.state.store import StateStore
    from revenue_assets.webhooks.health import webhook_health
    from revenue_assets.webhooks.registration import (
        RegistrationError,
        endpoint_views,
        stripe_client,
    )
    from revenue_assets.webhooks.secrets import resolve_secrets

    settings = load_settings(require_key=False)
    now = time.time()
    with StateStore(settings.state_path) as inbox:
        health = inbox.health()
        report = webhook_health(health, now=now)
        source = resolve_secrets(_env_secrets(settings), inbox)
        stripe_side: dict[str, Any]
        if offline:
            stripe_side = {"skipped": "--offline"}
        elif not settings.stripe_api_key:
            stripe_side = {"skipped": "STRIPE_API_KEY is not set"}
        else:
            try:
                views = endpoint_views(stripe_client(settings), inbox, url)
                stripe_side = {"endpoints": [_view_dict(view) for view in views]}
            except RegistrationError as error:
                stripe_side = {"error": str(error)}

    problems = list(report.reasons)
    endpoints = stripe_side.get("endpoints")
    if endpoints is not None:
        if not endpoints:
            problems.append(
                "No matching webhook endpoint on Stripe: run `revenue-assets webhooks register "
                "--url https://…`."
            )
        for endpoint in endpoints:
            if endpoint["status"] != "enabled":
                problems.append(f"Endpoint {endpoint['id']} is disabled (register --enable).")
            if endpoint["missing"]:
                problems.append(
                    f"Endpoint {endpoint['id']} lacks {len(endpoint['missing'])} event types "
                    "(run `webhooks register` to add them)."
                )
    if not source.secrets:
        problems.append("No signing secret: the receiver cannot start (see `webhooks register`).")

    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "problems": problems,
                    "stripe": stripe_side,
                    "inbox": {
                        "path": str(settings.state_path),
                        "secrets": source.describe,
                        **{k: v for k, v in vars(health).items()},
                    },
                    "health": {"passed": report.passed, "metrics": report.metrics},
                },
                indent=2,
            )
        )
        sys.exit(0 if not problems else 1)

    click.secho("Stripe's side", bold=True)
    if "skipped" in stripe_side:
        click.echo(f"  skipped ({stripe_side['skipped']})")
    elif "error" in stripe_side:
        click.secho(f"  {stripe_side['error']}", fg="red")
    else:
        for endpoint in stripe_side["endpoints"]:
            color = "green" if endpoint["status"] == "enabled" else "red"
            click.echo(f"  {endpoint['id']}  {endpoint['url']}")
            click.echo("    status: " + click.style(endpoint["status"], fg=color))
            click.echo(f"    API version: {endpoint['api_version'] or 'account default'}")
            click.echo(
                f"    event types ({len(endpoint['enabled_events'])}): "
                + ", ".join(endpoint["enabled_events"])
            )
            missing = endpoint["missing"]
            click.echo(
                "    missing: " + (click.style(", ".join(missing), fg="red") if missing else "none")
            )
        if not stripe_side["endpoints"]:
            click.secho("  no matching endpoint", fg="red")

    click.secho(f"Our side ({settings.state_path})", bold=True)
    click.echo(f"  signing secret: {source.describe}")
    click.echo(f"  events in inbox: {health.events}")
    click.echo(f"  last event received: {_when(health.last_received_at, now)}")
    click.echo(f"  last webhook delivery: {_when(health.last_webhook_at, now)}")
    oldest = (
        f" (oldest received {_when(health.oldest_pending_received_at, now)})"
        if health.backlog
        else ""
    )
    click.echo(f"  backlog: {health.backlog} unapplied{oldest}")
    click.echo(f"  last applied: {_when(health.last_applied_at, now)}")
    click.echo(
        f"  signature failures: {health.signature_failures} "
        f"(last {_when(health.last_signature_failure_at, now)}; "
        f"{health.signature_failures_since_success} since the last verified delivery)"
    )
    if health.malformed_payloads or health.oversized_payloads:
        click.echo(
            f"  rejected: {health.malformed_payloads} malformed, "
            f"{health.oversized_payloads} oversized"
        )
    if problems:
        click.secho("Needs attention:", fg="red", bold=True)
        for problem in problems:
            click.echo(f"  - {redact(problem)}")
        sys.exit(1)
    click.secho("Healthy.", fg="green")


def _view_dict(view: Any) -> dict[str, Any]:
    return {
        "id": view.id,
        "url": view.url,
        "status": view.status,
        "api_version": view.api_version,
        "enabled_events": list(view.enabled_events),
        "missing": list(view.missing),
    }


if __name__ == "__main__":
    webhooks()
