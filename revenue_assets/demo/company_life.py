"""The demo company's everyday life, on an accelerated clock, through Stripe's own API.

`demo --live` keeps the generated company changing the way a real SaaS account does: its app
signs customers up, moves them between plans, cancels, takes one-off payments and refunds
(through the official SDK, as any Stripe integration would), while the sandbox's clock runs
`speed` simulated minutes per real second, so renewals, trial ends and scheduled cancellations
fall due and get paid much faster than on a real account. Every change becomes Stripe events,
delivered as webhooks by the sandbox: the product sees nothing but Stripe.

The clock runs ahead of the wall clock, so the revenue layer is told the company's time
through a clock file (REVENUE_ASSETS_CLOCK_FILE), rewritten after each step; with that file set,
monthly partitions reach CLOCK_AHEAD_MONTHS past the wall clock's month. Once the company gets
within a day of that edge, its clock slows to real time, and the app keeps acting.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import stripe

from revenue_assets.catalog.months import add_months, month_bounds, month_key
from revenue_assets.settings import CLOCK_AHEAD_MONTHS

DAY = 86_400
# How far ahead of the wall clock the company may run: inside the last monthly partition, with
# a day to spare.
EDGE_MARGIN_S = DAY
# What the company's app does, with relative weights.
ACTION_WEIGHTS = {
    "signup": 3.0,
    "upgrade": 2.0,
    "downgrade": 1.5,
    "cancel": 1.5,
    "payment": 1.5,
    "refund": 1.0,
}
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Linus", "Hedy")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman")


def partitions_edge(wall: float) -> int:
    """The first second after the last monthly partition while a clock file is set (the end
    of the month CLOCK_AHEAD_MONTHS after the wall clock's, UTC)."""
    this_month = month_key(datetime.fromtimestamp(wall, UTC))
    return month_bounds(add_months(this_month, CLOCK_AHEAD_MONTHS))[1]


def write_clock_file(path: Path, clock: int) -> None:
    """Replace the clock file atomically (a reader never sees half a number)."""
    handle, temporary = tempfile.mkstemp(prefix=".clock-", dir=path.parent)
    with os.fdopen(handle, "w") as file:
        file.write(f"{clock}\n")
    os.replace(temporary, path)


@dataclass
class LifeStats:
    """What happened so far (printed by the demo, read by tests)."""

    actions: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    clock: int = 0
    at_edge: bool = False
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))


class CompanyLife:
    """Drives the sandbox company: `step()` moves its clock and acts when an action is due."""

    def __init__(
        self,
        base_url: str,
        secret_key: str,
        *,
        speed: float,
        clock_file: Path,
        mean_interval_s: float = 2.5,
        seed: int | None = None,
        on_action: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.speed = speed
        self.clock_file = clock_file
        self.mean_interval_s = mean_interval_s
        self.on_action = on_action
        self.stats = LifeStats()
        self._rng = random.Random(seed)
        self._client = stripe.StripeClient(
            secret_key, base_addresses={"api": self.base_url}, max_network_retries=2
        )
        self._http = requests.Session()
        self._http.trust_env = False  # the sandbox is on loopback: never through a proxy
        self._http.auth = (secret_key, "")
        self._ladders: dict[str, list[dict[str, Any]]] = {}
        self._subscriptions: list[str] = []
        self._charges: deque[str] = deque(maxlen=200)
        self._customers: list[str] = []
        self._last_step = time.monotonic()
        self._next_action = self._last_step + self._interval()

    # -- the clock -------------------------------------------------------------------------------

    def clock(self) -> int:
        response = self._http.get(f"{self.base_url}/_sandbox/clock", timeout=30)
        response.raise_for_status()
        return int(response.json()["now"])

    def advance(self, seconds: int) -> int:
        response = self._http.post(
            f"{self.base_url}/_sandbox/clock", json={"seconds": seconds}, timeout=120
        )
        response.raise_for_status()
        return int(response.json()["now"])

    def simulated_step(self, clock: int, elapsed_s: float, wall: float) -> int:
        """Seconds to move a clock at `clock` after `elapsed_s` real seconds: `speed` minutes
        per second, slowed to real time near the partitions' edge, never backwards."""
        wanted = round(elapsed_s * self.speed * 60)
        limit = partitions_edge(wall) - EDGE_MARGIN_S
        if clock + wanted <= limit:
            self.stats.at_edge = False
            return wanted
        self.stats.at_edge = True
        return max(0, min(wanted, limit - clock, round(elapsed_s)))

    # -- the loop --------------------------------------------------------------------------------

    def start(self) -> None:
        """Learn the catalog and a sample of the company, and publish its clock."""
        self._load_catalog()
        self._load_sample()
        self.stats.clock = self.clock()
        write_clock_file(self.clock_file, self.stats.clock)
        self._last_step = time.monotonic()
        self._next_action = self._last_step + self._interval()

    def step(self) -> None:
        """Move the clock by the real time since the last step; act if an action is due."""
        now = time.monotonic()
        elapsed, self._last_step = now - self._last_step, now
        seconds = self.simulated_step(self.stats.clock, elapsed, time.time())
        if seconds:
            self.stats.clock = self.advance(seconds)
        write_clock_file(self.clock_file, self.stats.clock)
        while now >= self._next_action:
            self._next_action += self._interval()
            self.act()

    def run(self, stop: threading.Event, tick_s: float = 1.0) -> None:
        """Step every `tick_s` until `stop` is set."""
        while not stop.wait(tick_s):
            self.step()

    def _interval(self) -> float:
        return self._rng.expovariate(1 / self.mean_interval_s)

    # -- actions ---------------------------------------------------------------------------------

    def act(self, kind: str | None = None) -> str | None:
        """One action of the company's app (a random one unless `kind`); what it did, or None
        when it found nothing to act on. Stripe's refusals count as failed, never raise."""
        if kind is None:
            kinds, weights = zip(*ACTION_WEIGHTS.items(), strict=True)
            kind = self._rng.choices(kinds, weights)[0]
        try:
            done = getattr(self, f"_{kind}")()
        except stripe.StripeError as error:
            self.stats.failed += 1
            self.stats.recent.append(f"{kind} refused by Stripe: {error.user_message or error}")
            return None
        if done is not None:
            self.stats.actions[kind] = self.stats.actions.get(kind, 0) + 1
            self.stats.recent.append(done)
            if self.on_action is not None:
                self.on_action(done)
        return done

    def _signup(self) -> str:
        # Mostly dollars, like most of the generated company.
        currencies = sorted(self._ladders)
        currency = "usd" if "usd" in currencies and self._rng.random() < 0.6 else None
        currency = currency or self._rng.choice(currencies)
        ladder = self._ladders[currency]
        # cheaper plans sell more (as in the generated company: 45, 35, 15, 5 %)
        weights = [45, 35, 15, 5, 2, 1][: len(ladder)] + [1] * max(0, len(ladder) - 6)
        price = self._rng.choices(ladder, weights)[0]
        first, last = self._rng.choice(FIRST_NAMES), self._rng.choice(LAST_NAMES)
        number = self._rng.randrange(10_000)
        customer = self._client.v1.customers.create(
            {
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{number}@live-demo.example.com",
                "metadata": {"source": "demo --live"},
            }
        )
        subscription = self._client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price["id"]}]}
        )
        self._customers.append(customer.id)
        self._subscriptions.append(subscription.id)
        return f"signup: {customer.id} on {price['nickname']} ({currency.upper()})"

    def _move(self, step: int) -> str | None:
        for subscription in self._sample_subscriptions():
            items = subscription["items"]["data"]
            price = items[0]["price"] if items else None
            ladder = self._ladders.get(price["currency"], []) if price else []
            ids = [p["id"] for p in ladder]
            if price is None or price["id"] not in ids:
                continue
            target = ids.index(price["id"]) + step
            if not 0 <= target < len(ladder):
                continue
            self._client.v1.subscriptions.update(
                subscription["id"],
                {"items": [{"id": items[0]["id"], "price": ladder[target]["id"]}]},
            )
            kind = "upgrade" if step > 0 else "downgrade"
            return f"{kind}: {subscription['id']} to {ladder[target]['nickname']}"
        return None

    def _upgrade(self) -> str | None:
        return self._move(+1)

    def _downgrade(self) -> str | None:
        return self._move(-1)

    def _cancel(self) -> str | None:
        for subscription in self._sample_subscriptions():
            if subscription["cancel_at_period_end"]:
                continue
            self._subscriptions.remove(subscription["id"])
            if self._rng.random() < 0.5:
                self._client.v1.subscriptions.update(
                    subscription["id"], {"cancel_at_period_end": True}
                )
                return f"cancel at period end: {subscription['id']}"
            self._client.v1.subscriptions.cancel(subscription["id"])
            return f"cancel now: {subscription['id']}"
        return None

    def _payment(self) -> str | None:
        open_invoices = self._client.v1.invoices.list({"status": "open", "limit": 10}).data
        if open_invoices:
            invoice = self._rng.choice(open_invoices)
            self._client.v1.invoices.pay(invoice.id)
            return f"payment: invoice {invoice.id} paid"
        if not self._customers:
            return None
        customer = self._client.v1.customers.retrieve(self._rng.choice(self._customers))
        if getattr(customer, "deleted", False):
            return None
        currency = customer.to_dict().get("currency") or "usd"
        charge = self._client.v1.charges.create(
            {
                "amount": self._rng.choice((2_900, 9_900, 14_900)),
                "currency": currency,
                "customer": customer.id,
                "description": "One-time purchase",
            }
        )
        self._charges.append(charge.id)
        return f"payment: one-off charge {charge.id} ({currency.upper()})"

    def _refund(self) -> str | None:
        if not self._charges:
            self._charges.extend(
                c.id
                for c in self._client.v1.charges.list({"limit": 100}).data
                if c.paid and not c.refunded
            )
        while self._charges:
            charge = self._client.v1.charges.retrieve(
                self._charges.popleft() if self._rng.random() < 0.5 else self._charges.pop()
            )
            remaining = charge.amount - charge.amount_refunded
            if charge.status != "succeeded" or remaining <= 0 or charge.disputed:
                continue
            amount = remaining if self._rng.random() < 0.5 else max(1, remaining // 2)
            self._client.v1.refunds.create(
                {"charge": charge.id, "amount": amount, "reason": "requested_by_customer"}
            )
            return f"refund: {amount} {charge.currency.upper()} of {charge.id}"
        return None

    # -- what the app knows of its company -------------------------------------------------------

    def _load_catalog(self) -> None:
        """Per currency, the monthly plans from cheapest to dearest (the upgrade ladder): the
        products sold monthly in several currencies (a retired plan is sold in one)."""
        ladders: dict[str, list[dict[str, Any]]] = {}
        currencies: dict[str, set[str]] = {}
        for price in self._client.v1.prices.list(
            {"active": True, "type": "recurring", "limit": 100}
        ).auto_paging_iter():
            recurring = price.recurring
            if (
                recurring is not None
                and recurring.interval == "month"
                and recurring.interval_count == 1
                and (price.nickname or "").endswith(" monthly")
            ):
                product = price.product if isinstance(price.product, str) else price.product.id
                currencies.setdefault(product, set()).add(price.currency)
                ladders.setdefault(price.currency, []).append(
                    {
                        "id": price.id,
                        "product": product,
                        "nickname": price.nickname,
                        "amount": price.unit_amount or 0,
                    }
                )
        plans = {product for product, sold_in in currencies.items() if len(sold_in) > 1}
        ladders = {
            currency: [price for price in ladder if price["product"] in plans]
            for currency, ladder in ladders.items()
        }
        self._ladders = {
            currency: sorted(ladder, key=lambda p: p["amount"])
            for currency, ladder in ladders.items()
            if len(ladder) >= 2
        }
        if not self._ladders:
            raise RuntimeError("the company sells no monthly plans: nothing to sign up for")

    def _load_sample(self) -> None:
        page = self._client.v1.subscriptions.list({"status": "active", "limit": 100})
        self._subscriptions = [s.id for s in page.data]
        self._customers = [s.customer for s in page.data if isinstance(s.customer, str)]

    def _sample_subscriptions(self, tries: int = 5) -> list[dict[str, Any]]:
        """A few active subscriptions, in random order, as Stripe has them now."""
        found = []
        for subscription_id in self._rng.sample(
            self._subscriptions, min(tries, len(self._subscriptions))
        ):
            subscription = self._client.v1.subscriptions.retrieve(subscription_id)
            if subscription.status in ("active", "past_due", "trialing"):
                found.append(subscription.to_dict())
            else:
                self._subscriptions.remove(subscription_id)
        if len(self._subscriptions) < 20:
            self._load_sample()
        return found
