"""The sandbox as a separate process: the CLI (`revenue-assets sandbox serve`) and the
SandboxProcess runner that benchmarks use."""

from __future__ import annotations

from pathlib import Path

import stripe
from click.testing import CliRunner

from revenue_assets.cli import main
from revenue_assets.sandbox.runner import Sandbox
from revenue_assets_tests.sandbox_fixtures import company_spec


def test_serve_help_documents_the_options_and_the_fault_spec() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--seed",
        "--customers",
        "--months",
        "--latency-ms",
        "--rate-limit",
        "--faults",
        "--data",
    ):
        assert option in result.output
    assert "500:0.02,503:0.01,reset:0.01,truncate:0.01" in result.output
    bad = CliRunner().invoke(main, ["sandbox", "serve", "--faults", "boom:1"])
    assert bad.exit_code == 2 and "unknown fault kind" in bad.output


def test_spawned_process_serves_reopens_its_data_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "company.sqlite"
    spec = company_spec(customers=30, months=2)
    with Sandbox.spawn(spec, data=data) as first:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert first.secret_key.startswith("sk_test_") and first.live_key.startswith("sk_live_")
        assert first.read_key.startswith("rk_test_")
        client = stripe.StripeClient(
            first.secret_key, base_addresses={"api": first.base_url}, max_network_retries=0
        )
        customers = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
        created = client.v1.customers.create({"email": "kept@example.com"}).id
        key = first.restricted_key(["rak_customer_read"])
        restricted = stripe.StripeClient(
            key, base_addresses={"api": first.base_url}, max_network_retries=0
        )
        assert restricted.v1.customers.list({"limit": 1}).data
        assert first.counters()["requests"] >= 3
        assert first.cpu_seconds() > 0
    assert first.process.returncode == 0  # Ctrl-C (SIGINT) is a clean stop

    with Sandbox.spawn(data=data) as again:  # reopened: same keys, same objects, the new one too
        assert again.secret_key == first.secret_key
        client = stripe.StripeClient(
            again.secret_key, base_addresses={"api": again.base_url}, max_network_retries=0
        )
        reopened = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
        assert reopened[0] == created and reopened[1:] == customers
