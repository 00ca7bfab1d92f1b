"""`revenue-assets sandbox`: run the local Stripe sandbox (no Dagster import: starts fast)."""

from __future__ import annotations

import json
import os
import sys
import time

import click

from revenue_assets.sandbox.faults import FaultSpec, parse_latency
from revenue_assets.sandbox.ratelimit import EndpointPolicy, RatePolicy

FAULTS_HELP = (
    "Random failures per API request (see 'Fault SPEC' above); 'off' disables. Changeable at "
    "runtime: POST /_sandbox/faults faults=SPEC."
)


def _check(parse, value):  # type: ignore[no-untyped-def]
    if value is None:
        return None
    try:
        parse(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.group()
def sandbox() -> None:
    """A local Stripe-compatible API holding a generated SaaS company."""


@sandbox.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind (loopback by default).",
)
@click.option("--port", default=12111, show_default=True, type=int, help="Port (0: any free port).")
@click.option(
    "--seed", default=42, show_default=True, type=int, help="Seed of the generated company."
)
@click.option("--customers", default=1000, show_default=True, type=int)
@click.option("--months", default=24, show_default=True, type=int, help="Months of history.")
@click.option("--connected-accounts", default=1, show_default=True, type=int)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Company file: reopened if it exists, else generated there (default: a temporary file).",
)
@click.option(
    "--latency-ms",
    metavar="LO-HI",
    callback=lambda _c, _p, v: _check(parse_latency, v),
    help="Added latency per API request, uniform in LO-HI milliseconds (e.g. 20-120).",
)
@click.option(
    "--rate-limit",
    default="auto",
    show_default=True,
    metavar="auto|live|test|N|off",
    callback=lambda _c, _p, v: _check(RatePolicy.parse, v),
    help="Global token bucket per key: auto follows each key's mode (live 100 req/s, test 25 "
    "req/s); live or test applies that preset to every key; N req/s; off. Excess gets Stripe's "
    "429 with Stripe-Rate-Limited-Reason: global-rate.",
)
@click.option(
    "--endpoint-limit",
    default="25",
    show_default=True,
    metavar="N[,OPERATION=M...]|off",
    callback=lambda _c, _p, v: _check(EndpointPolicy.parse, v),
    help="Token bucket per key and operation, as Stripe's per-endpoint limits (25 req/s unless "
    "raised): N req/s for every operation, overrides such as '25,GET /v1/charges=100', or off. "
    "Requests count against the global bucket too; excess gets 429 with "
    "Stripe-Rate-Limited-Reason: endpoint-rate.",
)
@click.option(
    "--app-traffic",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    metavar="N",
    help="The account's own app: N req/s (Poisson) on the live key against the same limits, "
    "its own 429s counted at GET /_sandbox/counters (app_traffic). Changeable at runtime: "
    "POST /_sandbox/app_traffic rate=N.",
)
@click.option(
    "--faults",
    metavar="SPEC",
    callback=lambda _c, _p, v: _check(FaultSpec.parse, v),
    help=FAULTS_HELP,
)
@click.option("--fault-seed", type=int, help="Seed of latency and fault draws (reproducible runs).")
@click.option(
    "--webhook-duplicates",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Probability that a webhook event is delivered twice.",
)
@click.option(
    "--webhook-reorder-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Each delivery first waits a random 0..N ms, so events arrive out of order.",
)
@click.option(
    "--webhook-retry-s",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="First retry delay of a failed delivery (doubles per attempt, up to 60 s, 8 attempts).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON line with URL and keys (for tools)."
)
@click.option("--log-level", default="warning", show_default=True)
def serve(
    host: str,
    port: int,
    seed: int,
    customers: int,
    months: int,
    connected_accounts: int,
    data: str | None,
    latency_ms: str | None,
    rate_limit: str,
    endpoint_limit: str,
    app_traffic: float,
    faults: str | None,
    fault_seed: int | None,
    webhook_duplicates: float,
    webhook_reorder_ms: float,
    webhook_retry_s: float,
    as_json: bool,
    log_level: str,
) -> None:
    """Generate the company (or reopen --data) and serve Stripe's API on it until Ctrl-C.

    Prints the base URL and three keys: a test-mode secret key (sk_test_…), a live-mode secret
    key (sk_live_…, same data, live rate limit under --rate-limit auto) and a restricted
    read-only key (rk_test_…). Private routes (secret keys only): GET /_sandbox/counters,
    GET /_sandbox/info, POST /_sandbox/clock seconds=N, POST /_sandbox/keys permissions[]=…,
    POST /_sandbox/faults faults=SPEC latency_ms=LO-HI, POST /_sandbox/rate_limit rate_limit=… endpoint_limit=…,
    POST /_sandbox/app_traffic rate=N, POST /_sandbox/webhooks duplicates=P reorder_ms=N.

    \b
    Fault SPEC: KIND:PROBABILITY[,KIND:PROBABILITY...] per API request, e.g.
      --faults 500:0.02,503:0.01,reset:0.01,truncate:0.01
      500, 503   Stripe's api_error body, before the request is handled
      reset      handled, then headers and part of the body, then a TCP reset
      truncate   handled, valid HTTP with the JSON body cut short
    """
    from revenue_assets.sandbox.delivery import DeliveryOptions
    from revenue_assets.sandbox.runner import Sandbox, open_world
    from revenue_assets.sandbox.world import CompanySpec

    if host not in ("127.0.0.1", "::1", "localhost") and not as_json:
        click.echo(
            f"warning: binding {host}: the sandbox is reachable from other machines", err=True
        )
    spec = CompanySpec(
        seed=seed, customers=customers, months=months, connected_accounts=connected_accounts
    )
    if not as_json:
        click.echo(
            f"generating {customers} customers over {months} months (seed {seed}) ...", err=True
        )
    started = time.perf_counter()
    world = open_world(spec, data)
    generation = time.perf_counter() - started
    sandbox_ = Sandbox(
        world,
        host=host,
        port=port,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        endpoint_limit=endpoint_limit,
        app_traffic=app_traffic,
        faults=faults,
        fault_seed=fault_seed,
        webhooks=DeliveryOptions(
            duplicates=webhook_duplicates,
            reorder_ms=webhook_reorder_ms,
            retry_base_s=webhook_retry_s,
        ),
        owns_world=True,
    )
    info = {
        "base_url": sandbox_.base_url,
        **sandbox_.keys.as_dict(),
        "account_id": world.account_id,
        "connected_account_ids": list(world.connected_account_ids),
        "generation_seconds": round(generation, 3),
        "pid": os.getpid(),
    }
    if as_json:
        print(json.dumps(info), flush=True)
    else:
        _banner(info, sandbox_)
    sandbox_.serve_forever(log_level=log_level)
    if not as_json:
        click.echo("sandbox stopped.", err=True)


def _banner(info: dict, sandbox_) -> None:  # type: ignore[no-untyped-def,type-arg]
    app = sandbox_.app
    lines = [
        f"Stripe sandbox for {info['account_id']} (company generated in {info['generation_seconds']:.1f} s)",
        f"  base URL     {info['base_url']}",
        f"  secret key   {info['secret_key']}",
        f"  live key     {info['live_key']}",
        f"  read key     {info['read_key']}   (restricted, read-only)",
        f"  connected    {', '.join(info['connected_account_ids']) or '-'}   (Stripe-Account header)",
        f"  rate limit   {app.limiter.policy.describe()}; endpoints {app.limiter.endpoints.describe()}",
        f"  app traffic  {app.app_traffic.rate:g} req/s on the live key",
        f"  faults       {app.misbehaviour.spec}   latency {_latency(app.misbehaviour.latency)}",
        "",
        f"  curl -u {info['secret_key']}: '{info['base_url']}/v1/customers?limit=3'",
        f"  stripe.StripeClient(KEY, base_addresses={{'api': '{info['base_url']}'}})",
        "",
        "Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()


def _latency(latency: tuple[float, float]) -> str:
    low, high = latency
    return "none" if high <= 0 else f"{low * 1000:g}-{high * 1000:g} ms"


if __name__ == "__main__":
    sandbox()
