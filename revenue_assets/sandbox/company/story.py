"""Who the generated company's customers are and what happens to them: each customer gets a
seeded random story (sign-up, trial, plan, coupons, upgrades, pauses, cancellation,
reactivation, refunds, disputes, credit notes, deletion...) as timed actions on its agenda; the
platform's first customers follow scripted showcases so every scenario exists in any company."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from revenue_assets.sandbox import (
    billing,
    checkout,
    credit_notes,
    credits,
    customer_children,
    customers,
    invoicing,
    money,
    payments,
    quotes,
    radar,
    schedules,
)
from revenue_assets.sandbox import (
    catalog as catalog_module,
)
from revenue_assets.sandbox.catalog import Catalog
from revenue_assets.sandbox.company.clock import Agenda
from revenue_assets.sandbox.company.plan import Obj, Person, Plan
from revenue_assets.sandbox.ledger import MemoryLedger

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Donald",
    "Anita",
    "Edsger",
    "Sophie",
    "Yukihiro",
    "Guido",
    "Rasmus",
    "Ana",
    "Wei",
    "Priya",
    "Lars",
    "Fatima",
    "Mateo",
    "Aiko",
    "Omar",
    "Chloe",
    "Noah",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Knuth",
    "Borg",
    "Dijkstra",
    "Wilson",
    "Matsumoto",
    "Rossum",
    "Lerdorf",
    "Silva",
    "Zhang",
    "Patel",
    "Nielsen",
    "Haddad",
    "Garcia",
    "Tanaka",
    "Farouk",
    "Martin",
    "Weber",
]
COMPANY_WORDS = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "aperture",
    "vandelay",
    "pied-piper",
    "massive",
    "dynamic",
    "oscorp",
    "gringotts",
    "monarch",
    "nakatomi",
]
FEEDBACK = ("too_expensive", "missing_features", "switched_service", "unused", "other")
SHOWCASES = 10  # the first customers of the platform follow scripted stories (see `showcase`)


class Story:
    """One customer's life, as timed actions on a MemoryLedger."""

    def __init__(self, plan: Plan, ledger: MemoryLedger, rng: random.Random, account: str) -> None:
        self.plan = plan
        self.catalog = plan.catalogs[account]
        self.ledger = ledger
        self.rng = rng
        self.account = account
        self.agenda = Agenda(ledger, plan.now)
        self.customer: Obj = {}
        self.person_at: str | None = None
        self.person_id = ""
        self.group_key = ""
        self.country = "US"
        self.currency = "usd"
        self.deleted = False

    def at(self, when: int, action: Callable[[], None]) -> None:
        self.agenda.at(when, action)

    # agenda ------------------------------------------------------------------------------------

    # the customer ------------------------------------------------------------------------------

    def begin(
        self, signup: int, *, country: tuple[str, str] | None = None, card: bool | None = None
    ) -> None:
        rng = self.rng
        ledger = self.ledger
        ledger.now = signup
        countries = catalog_module.COUNTRIES
        self.country, self.currency, _ = rng.choices(countries, [c[2] for c in countries])[0]
        if country is not None:
            self.country, self.currency = country
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{rng.choice(COMPANY_WORDS)}-{rng.randrange(1000)}"
        email = f"{first.lower()}.{last.lower().replace('-', '')}@{company}.example.com"
        self.person_id = f"{rng.getrandbits(128):032x}"
        self.person_id = "-".join(
            (
                self.person_id[:8],
                self.person_id[8:12],
                self.person_id[12:16],
                self.person_id[16:20],
                self.person_id[20:],
            )
        )
        placement = rng.random()
        metadata: Obj = {}
        if placement < 0.35:
            self.person_at = "customer"
            metadata["posthog_person_distinct_id"] = self.person_id
        elif placement < 0.50:
            self.person_at = "subscription"
        elif placement < 0.60:
            self.person_at = "charge"
        self.group_key = company
        if rng.random() < 0.25:
            metadata["posthog_group_key"] = company
        has_card = rng.random() > 0.06 if card is None else card
        self.customer = customers.create(
            ledger,
            email=email,
            name=f"{first} {last}",
            country=self.country,
            metadata=metadata,
            payment_method="default" if has_card else None,
        )
        self.plan_children()

    # showcases ---------------------------------------------------------------------------------

    def showcase(self, number: int) -> None:
        """A scripted story (the company's first customers): every scenario a warehouse must
        handle happens even in a tiny company, in the last weeks before the clock."""
        base = self.ledger.now
        day = money.DAY
        catalog = self.catalog

        def subscribe(specs: list[billing.ItemSpec], **options: Any) -> Callable[[], Obj]:
            made: list[Obj] = []

            def start() -> None:
                made.append(
                    billing.create(
                        self.ledger,
                        self.customer,
                        specs,
                        metadata=self._metadata("subscription"),
                        **options,
                    )
                )

            self.at(base, start)
            return lambda: made[0]

        def plan(tier: str, interval: tuple[str, int] = ("month", 1)) -> Obj:
            found = catalog.plan_for(tier, "usd", interval)
            assert found is not None
            return found

        if number == 0:  # one-off charges: one disputed (lost), one refunded in full
            self.at(base + day, lambda: self._showcase_charge(dispute="lost"))
            self.at(base + 2 * day, lambda: self._showcase_charge(refund="full"))
            # held for review then refunded; an issuer's fraud warning, refunded at once
            self.at(base + 3 * day, lambda: self._showcase_radar(refund_review=True))
        elif number == 1:  # one-off charges: one refunded in part, one disputed and won
            self.at(base + day, lambda: self._showcase_charge(refund="partial"))
            self.at(base + 2 * day, lambda: self._showcase_charge(dispute="won"))
            # held for review then approved; a fraud warning followed by a chargeback
            self.at(base + 3 * day, lambda: self._showcase_radar(refund_review=False))
        elif number == 2:  # credit notes on a paid invoice: refunded, then out of band
            subscription = subscribe([billing.ItemSpec(plan("Pro"))])
            self.at(base + 3 * day, lambda: self._credit(subscription(), refund=True))
            self.at(base + 4 * day, lambda: self._credit(subscription(), refund=False))
            # the customer's own discount: applied, switched to another coupon, removed
            # (between invoices: no invoice changes, the three `customer.discount.*` events)
            for offset, coupon in ((5, "WELCOME20"), (6, "PARTNER10"), (7, None)):
                self.at(base + offset * day, lambda code=coupon: self._customer_coupon(code))
        elif number == 3:  # a dozen items: item lists and invoices beyond 10 entries
            specs = [billing.ItemSpec(plan("Business"))]
            specs += [billing.ItemSpec(price) for price in catalog.connectors]
            subscribe(specs)
        elif number == 4:  # cancels at once, then the customer is deleted
            subscription = subscribe([billing.ItemSpec(plan("Starter"))])
            self.at(base + 5 * day, lambda: self._cancel(subscription(), at_period_end=False))
            self.at(base + 8 * day, self._delete)
        elif number == 5:  # upgrade invoiced at once, then a downgrade prorated at renewal
            subscription = subscribe([billing.ItemSpec(plan("Starter"))])
            self.at(
                base + 5 * day,
                lambda: self._showcase_change(subscription(), "Pro", "always_invoice"),
            )
            self.at(
                base + 10 * day,
                lambda: self._showcase_change(subscription(), "Starter", "create_prorations"),
            )
        elif number == 6:  # a trial without a card pauses at its end
            subscribe(
                [billing.ItemSpec(plan("Pro"))],
                trial_end=base + 7 * day,
                missing_payment_method="pause",
            )
        elif number == 7:  # a manual invoice of many lines, with a coupon and tax
            self.at(base + day, self.manual_invoice)
            # then a credit left on the balance, two tax ids (one deleted), a second card
            # removed again
            self.at(base + 2 * day, lambda: self._credit_balance(2_500, None))
            self.at(base + 2 * day, lambda: self._tax_id("gb_vat", "GB123456789", None))
            self.at(base + 2 * day, lambda: self._tax_id("eu_vat", "DE123456789", base + 5 * day))
            self.at(base + 3 * day, lambda: self._second_card(3 * day))
        elif number == 8:  # weekly and semi-annual prices, a coupon, cancel at period end,
            # and a downgrade booked for the end of the period as a schedule
            subscribe(
                [billing.ItemSpec(catalog.sms["usd"], 2)], coupons=(catalog.coupons["FIVEOFF"],)
            )
            subscription = subscribe([billing.ItemSpec(plan("Business", ("month", 3)))])
            self.at(base + 2 * day, lambda: self._cancel(subscription(), at_period_end=True))
            downgraded = subscribe([billing.ItemSpec(plan("Pro"))])
            self.at(base + 3 * day, lambda: self._book_downgrade(downgraded(), plan("Starter")))
        elif number == 9:  # collection paused: renewal invoices are voided
            subscription = subscribe([billing.ItemSpec(catalog.sms["usd"])])
            # a coupon put on the subscription, then taken off before its next invoice
            fiveoff = catalog.coupons["FIVEOFF"]
            self.at(
                base + 3 * day,
                lambda: billing.update(self.ledger, subscription(), coupons=(fiveoff,)),
            )
            self.at(base + 4 * day, lambda: billing.remove_discounts(self.ledger, subscription()))
            self.at(
                base + 2 * day,
                lambda: billing.update(
                    self.ledger,
                    subscription(),
                    pause_collection={"behavior": "void", "resumes_at": base + 20 * day},
                ),
            )

    def sales(self, number: int) -> None:
        """The quotes and billing credits of a few scripted customers (after their agenda ran):
        a quote of every status (accepted, still open, declined, expired, never sent) and
        credit grants bought, given, expired early and voided. Steps after the clock are left
        out (a short company)."""
        ledger = self.ledger
        base = self.customer["created"]
        catalog = self.catalog

        def at(days: float) -> bool:
            when = base + int(days * money.DAY)
            if when > self.plan.now:
                return False
            ledger.now = when
            return True

        def plan(tier: str, interval: tuple[str, int] = ("month", 1)) -> Obj:
            found = catalog.plan_for(tier, "usd", interval)
            assert found is not None
            return found

        def grant(amount: int, category: str, name: str, **options: Any) -> Obj:
            return credits.grant(
                ledger, self.customer, amount, "usd", category=category, name=name, **options
            )

        if number == 2 and at(1):  # a quote drafted and never sent; pilot credits ended early
            quotes.draft(ledger, self.customer, [(plan("Business"), 1), (catalog.seats["usd"], 5)])
            pilot = grant(10_000, "promotional", "Pilot credits")
            if at(15):
                credits.expire(ledger, pilot)
        elif number == 3 and at(2):  # prepaid API usage, welcome credits, an annual offer open
            grant(20_000, "paid", "Prepaid API credits", priority=10)
            welcome = grant(
                5_000, "promotional", "Welcome credits", expires_at=base + 30 * money.DAY
            )
            offered = max(ledger.now, self.plan.now - 10 * money.DAY)
            ledger.now = offered
            quote = quotes.draft(ledger, self.customer, [(plan("Business", ("year", 1)), 1)])
            quotes.finalize(ledger, quote)  # answerable past the clock: the live world expires it
            if at(30):  # unspent welcome credits expire, as the world's clock runs it
                credits.lapse(ledger, welcome)
        elif number == 5 and at(3):  # the upgrade was sold on a quote, accepted on the day
            quote = quotes.draft(
                ledger,
                self.customer,
                [(plan("Pro"), 1)],
                description="Upgrade to Pro",
            )
            quotes.finalize(ledger, quote)
            mistaken = grant(2_500, "promotional", "Goodwill credits")
            subscriptions = ledger.by_customer(self.customer["id"], "subscription")
            if at(5):
                quotes.accept(
                    ledger, quote, subscription=subscriptions[0] if subscriptions else None
                )
                credits.void(ledger, mistaken)
        elif number == 7 and at(0.5):  # a quote for an annual plan that nobody answered
            quote = quotes.draft(
                ledger,
                self.customer,
                [(plan("Pro", ("year", 1)), 1), (catalog.one_time["onboarding"]["usd"], 1)],
                expires_at=base + 10 * money.DAY,
                collection_method="send_invoice",
                days_until_due=30,
            )
            quotes.finalize(ledger, quote)
            if at(10):  # its expiry, as the world's clock runs it
                quotes.lapse(ledger, quote)
        elif number == 8 and at(1):  # an annual offer, declined once the customer cancels
            quote = quotes.draft(ledger, self.customer, [(plan("Business", ("year", 1)), 1)])
            quotes.finalize(ledger, quote)
            if at(3):
                quotes.cancel(ledger, quote)

    def _customer_coupon(self, code: str | None) -> None:
        if code is None:
            customers.remove_discount(self.ledger, self.customer)
        else:
            customers.apply_coupon(self.ledger, self.customer, self.catalog.coupons[code])

    def _book_downgrade(self, subscription: Obj, price: Obj) -> None:
        items = billing.items_of(self.ledger, subscription)
        schedules.book(self.ledger, subscription, items, downgrade_to=price)

    def _showcase_charge(self, *, refund: str | None = None, dispute: str | None = None) -> None:
        charge, _ = payments.create_charge(
            self.ledger,
            self.customer,
            money.from_usd_cents(4_900, self.currency),
            self.currency,
            description="One-time purchase",
            metadata=self._metadata("charge"),
        )
        self.customer["currency"] = self.currency
        if refund is not None:
            amount = None if refund == "full" else charge["amount"] // 3
            payments.refund_charge(self.ledger, charge, amount, reason="requested_by_customer")
        if dispute is not None:
            found = payments.open_dispute(self.ledger, charge, reason="fraudulent")
            self.at(
                self.ledger.now + 3 * money.DAY,
                lambda: payments.close_dispute(self.ledger, found, won=dispute == "won"),
            )

    def _showcase_radar(self, *, refund_review: bool) -> None:
        ledger = self.ledger
        amount = money.from_usd_cents(9_900, self.currency)
        reviewed, _ = payments.create_charge(
            ledger, self.customer, amount, self.currency, description="One-time purchase"
        )
        found = radar.open_review(ledger, reviewed)
        self.at(
            ledger.now + 6 * 3_600,
            lambda: radar.close_review(ledger, found, refund=refund_review),
        )
        warned, _ = payments.create_charge(
            ledger, self.customer, amount, self.currency, description="One-time purchase"
        )
        warning = radar.warn(ledger, warned, "made_with_stolen_card")

        def settle() -> None:
            if refund_review:
                payments.refund_charge(ledger, warned, reason="fraudulent")
            else:
                found = payments.open_dispute(ledger, warned, reason="fraudulent")
                self.at(
                    ledger.now + 3 * money.DAY,
                    lambda: payments.close_dispute(ledger, found, won=False),
                )
            radar.settle_warning(ledger, warning)

        self.at(ledger.now + 2 * money.DAY, settle)

    def _credit(self, subscription: Obj, *, refund: bool) -> None:
        found = self._latest_charge(subscription)
        if found is None:
            return
        invoice = found[0]
        line = invoicing.lines_of(self.ledger, invoice)[0]
        credit_notes.create(
            self.ledger,
            invoice,
            lines=[(line["id"], max(1, line["amount"] // 5))],
            reason="product_unsatisfactory",
            refund=refund,
        )

    def _showcase_change(self, subscription: Obj, tier: str, behavior: str) -> None:
        if subscription["status"] in billing.ENDED:
            return
        items = billing.items_of(self.ledger, subscription)
        price = self.catalog.plan_for(tier, "usd", ("month", 1))
        billing.update(
            self.ledger,
            subscription,
            changes=[billing.ItemChange(id=items[0]["id"], price=price)],
            proration_behavior=behavior,
        )

    # what Stripe keeps under the customer: balance, tax ids, cards ------------------------------

    def plan_children(self) -> None:
        """Balance adjustments, tax ids and further cards of the customer, drawn from a random
        generator of their own: the story's own generator (and so the rest of the company) stays
        what it was before these existed."""
        rng = random.Random(f"children/{self.customer['id']}")
        signup = self.ledger.now
        day = money.DAY
        if self.country in ("DE", "FR", "GB") and rng.random() < 0.3:
            kind = "gb_vat" if self.country == "GB" else "eu_vat"
            number = f"{self.country}{rng.randrange(10**8, 10**9)}"
            deleted_at = signup + rng.randrange(30, 200) * day if rng.random() < 0.2 else None
            self.at(
                signup + rng.randrange(0, 20) * day, lambda: self._tax_id(kind, number, deleted_at)
            )
        if rng.random() < 0.05:
            credit = rng.choice((500, 1_000, 2_500, 5_000))
            reversed_after = rng.randrange(5, 40) * day if rng.random() < 0.3 else None
            self.at(
                signup + rng.randrange(10, 300) * day,
                lambda: self._credit_balance(credit, reversed_after),
            )
        if self.customer["invoice_settings"]["default_payment_method"] and rng.random() < 0.12:
            detach_after = rng.randrange(10, 120) * day if rng.random() < 0.4 else None
            self.at(signup + rng.randrange(5, 200) * day, lambda: self._second_card(detach_after))

    def _tax_id(self, kind: str, number: str, deleted_at: int | None) -> None:
        if self.deleted:
            return
        ledger = self.ledger
        tax_id = customer_children.add_tax_id(ledger, self.customer, kind, number, verify=False)
        self.at(ledger.now + 3_600, lambda: customer_children.verify_tax_id(ledger, tax_id))
        if deleted_at is not None:
            self.at(
                deleted_at, lambda: self.deleted or customer_children.delete_tax_id(ledger, tax_id)
            )

    def _credit_balance(self, usd_cents: int, reversed_after: int | None) -> None:
        """A goodwill credit, in the currency the customer already pays in (so no later
        invoice changes currency), which its next invoices consume; some are taken back."""
        currency = self.customer.get("currency")
        if self.deleted or not currency:
            return
        amount = money.from_usd_cents(usd_cents, currency)
        ledger = self.ledger
        customer_children.adjust_balance(
            ledger, self.customer, -amount, currency, description="Goodwill credit"
        )
        if reversed_after is not None:

            def take_back() -> None:
                left = -(self.customer.get("balance") or 0)
                if not self.deleted and left > 0:
                    customer_children.adjust_balance(
                        ledger,
                        self.customer,
                        min(left, amount),
                        currency,
                        description="Credit reversed",
                    )

            self.at(ledger.now + reversed_after, take_back)

    def _second_card(self, detach_after: int | None) -> None:
        """The customer saves another card; some remove it again later."""
        if self.deleted:
            return
        method_id = f"pm_{self.customer['id'][4:]}Card2"
        method = customer_children.save_card(self.ledger, self.customer, method_id)
        if method is not None and detach_after is not None:

            def remove() -> None:
                if not self.deleted and method["customer"] is not None:
                    customer_children.detach(self.ledger, method)

            self.at(self.ledger.now + detach_after, remove)

    def person(self) -> Person:
        """The product-analytics person behind this customer (for the demo's persons file)."""
        return (
            self.person_id,
            self.customer["email"],
            self.customer["name"],
            self.customer["metadata"].get("posthog_group_key") or self.group_key,
            self.account,
        )

    def plan_life(self) -> None:
        rng = self.rng
        signup = self.ledger.now
        if rng.random() < 0.05:
            self.at(signup, self.abandoned_checkout)
        if self.customer["invoice_settings"]["default_payment_method"] and rng.random() < 0.06:
            self.at(signup, self.saved_card)
        roll = rng.random()
        if self.person_at == "charge" or roll < 0.08:
            self.one_off_purchases(signup)
            if rng.random() < 0.6:
                return
            self.subscribe(signup + rng.randrange(1, 60) * money.DAY, first=True)
            return
        if roll < 0.20:
            self.trial_only(signup)
            return
        if roll < 0.66 and self.person_at != "subscription":
            return  # a free-tier user: a customer object, never billed

        self.subscribe(signup, first=True)
        if rng.random() < 0.03:
            self.at(signup + rng.randrange(1, 20) * money.DAY, self.manual_invoice)

    # actions -------------------------------------------------------------------------------------

    def _metadata(self, where: str) -> Obj | None:
        return {"posthog_person_distinct_id": self.person_id} if self.person_at == where else None

    def one_off_purchases(self, first_at: int) -> None:
        rng = self.rng
        for number in range(rng.choice((1, 1, 2, 3))):
            self.at(first_at + number * rng.randrange(5, 90) * money.DAY, self.one_off_charge)

    def one_off_charge(self) -> None:
        if self.deleted:
            return
        rng = self.rng
        ledger = self.ledger
        usd = rng.choice((2_900, 9_900, 14_900, 49_900))
        amount = money.from_usd_cents(usd, self.currency)
        if rng.random() < 0.08:
            self.abandoned_payment(amount, declined=rng.random() < 0.6)
            return
        charge, _ = payments.create_charge(
            ledger,
            self.customer,
            amount,
            self.currency,
            description="One-time purchase",
            metadata=self._metadata("charge"),
        )
        if not self.customer.get("currency"):
            self.customer["currency"] = self.currency
        roll = rng.random()
        later = ledger.now + rng.randrange(1, 20) * money.DAY
        if roll < 0.07:
            self.at(later, lambda: self.refund(charge, full=True))
        elif roll < 0.14:
            self.at(later, lambda: self.refund(charge, full=False))
        elif roll < 0.16:
            self.at(later, lambda: self.dispute(charge))
        elif roll < 0.19:
            self.held_for_review(charge)
        elif roll < 0.21:
            self.at(later, lambda: self.fraud_warning(charge))

    def abandoned_payment(self, amount: int, *, declined: bool) -> None:
        """A purchase that never moved money: a payment intent left waiting for a payment
        method (after a declined card, when `declined`), canceled as abandoned a day later."""
        ledger = self.ledger
        intent = payments.open_intent(
            ledger, self.customer, amount, self.currency, description="One-time purchase"
        )
        if declined:
            payments.decline_intent(ledger, intent, self.customer)
        self.at(ledger.now + money.DAY, lambda: payments.cancel_intent(ledger, intent))

    def held_for_review(self, charge: Obj) -> None:
        """Radar holds the payment for a look: approved a few hours later, or refunded."""
        ledger = self.ledger
        found = radar.open_review(ledger, charge)
        refund = self.rng.random() < 0.25
        when = ledger.now + self.rng.randrange(2, 30) * 3_600
        self.at(when, lambda: radar.close_review(ledger, found, refund=refund))

    def fraud_warning(self, charge: Obj) -> None:
        """The card's issuer reports the payment as fraud: refunded at once, or disputed."""
        ledger = self.ledger
        if charge.get("disputed") or charge["amount_refunded"]:
            return
        warning = radar.warn(ledger, charge, self.rng.choice(radar.FRAUD_TYPES))

        def refund() -> None:
            payments.refund_charge(ledger, charge, reason="fraudulent")
            radar.settle_warning(ledger, warning)

        def dispute() -> None:
            if charge.get("disputed") or charge["amount_refunded"]:
                return
            payments.open_dispute(ledger, charge, reason="fraudulent")
            radar.settle_warning(ledger, warning)

        if self.rng.random() < 0.6:
            self.at(ledger.now + self.rng.randrange(1, 4) * money.DAY, refund)
        else:
            self.at(ledger.now + self.rng.randrange(5, 20) * money.DAY, dispute)

    def refund(self, charge: Obj, *, full: bool) -> None:
        remaining = charge["amount"] - charge["amount_refunded"]
        if charge.get("disputed") or remaining <= 0:
            return
        amount = remaining if full else max(1, remaining // self.rng.choice((2, 3, 4)))
        payments.refund_charge(
            self.ledger,
            charge,
            amount,
            reason=self.rng.choice(("requested_by_customer", "duplicate")),
        )

    def dispute(self, charge: Obj) -> None:
        if charge.get("disputed") or charge["amount_refunded"]:
            return
        reason = self.rng.choice(("fraudulent", "product_not_received", "subscription_canceled"))
        found = payments.open_dispute(self.ledger, charge, reason=reason)
        outcome = self.rng.random()
        closes = self.ledger.now + self.rng.randrange(10, 40) * money.DAY
        if outcome < 0.8:
            self.at(closes, lambda: payments.close_dispute(self.ledger, found, won=outcome < 0.35))

    def _coupon(self, currency: str, when: int) -> Obj | None:
        coupons = self.catalog.coupons
        options = ["WELCOME20", "HALFOFF3", "PARTNER10"]
        if currency == "usd":
            options += ["TENOFF", "FIVEOFF"]
        if currency == "eur":
            options.append("EUR15")
        if when < self.plan.start + 300 * money.DAY:
            options.append("LAUNCH30")
        return coupons[self.rng.choice(options)]

    def _choose_items(self, when: int) -> list[billing.ItemSpec]:
        rng = self.rng
        currency = self.currency
        catalog = self.catalog
        special = rng.random()
        if special < 0.004 and currency == "usd":
            # An integrations-heavy account: invoices and item lists beyond 10 entries.
            base = catalog.plan_for("Business", "usd", ("month", 1))
            assert base is not None
            return [billing.ItemSpec(base)] + [
                billing.ItemSpec(price) for price in catalog.connectors[: rng.randrange(10, 13)]
            ]
        if special < 0.03 and currency in catalog.sms:
            return [billing.ItemSpec(catalog.sms[currency], rng.randrange(1, 4))]
        if special < 0.05 and currency == "usd" and catalog.support is not None:
            return [billing.ItemSpec(catalog.support)]
        if (
            special < 0.07
            and currency == "usd"
            and catalog.legacy is not None
            and when < self.plan.start + 150 * money.DAY
        ):
            return [billing.ItemSpec(catalog.legacy)]
        tier = rng.choices(("Starter", "Pro", "Business", "Enterprise"), (45, 35, 15, 5))[0]
        interval = rng.choices((("month", 1), ("year", 1), ("month", 3)), (72, 20, 8))[0]
        price = catalog.plan_for(tier, currency, interval) or catalog.plan_for(
            tier, currency, ("month", 1)
        )
        assert price is not None
        coupons: tuple[Obj, ...] = ()
        if rng.random() < 0.03:
            coupon = self._coupon(currency, when)
            coupons = (coupon,) if coupon else ()
        specs = [billing.ItemSpec(price, 1, coupons)]
        if (
            rng.random() < 0.15
            and price["recurring"]["interval"] == "month"
            and price["recurring"]["interval_count"] == 1
        ):
            specs.append(billing.ItemSpec(catalog.seats[currency], rng.randrange(2, 15)))
        return specs

    def subscribe(self, when: int, *, first: bool) -> None:
        self.at(when, lambda: self._subscribe(first))

    def _subscribe(self, first: bool) -> None:
        if self.deleted:
            return
        rng = self.rng
        ledger = self.ledger
        now = ledger.now
        customer = self.customer
        currency = customer.get("currency") or self.currency
        self.currency = currency
        specs = self._choose_items(now)
        has_card = bool(customer["invoice_settings"]["default_payment_method"])
        trial_end = now + 14 * money.DAY if first and rng.random() < 0.3 else None
        coupons: tuple[Obj, ...] = ()
        codes: tuple[Obj, ...] = ()
        if rng.random() < 0.22:
            coupon = self._coupon(currency, now)
            coupons = (coupon,) if coupon else ()
            # Half of those with a code typed it at checkout (the discount names the code).
            code = self.catalog.promotion_codes.get(_code_of(coupon, self.catalog))
            eligible = code is not None and (
                first or not code["restrictions"]["first_time_transaction"]
            )
            if eligible and rng.random() < 0.5:
                coupons, codes = (), (code,)
        tax = self.catalog.tax_rates.get(self.country)
        if not has_card and trial_end is None:
            # Without a card, nobody subscribes for money: a trial that will pause or cancel.
            trial_end = now + 14 * money.DAY
        subscription = billing.create(
            ledger,
            customer,
            specs,
            trial_end=trial_end,
            coupons=coupons,
            metadata=self._metadata("subscription"),
            missing_payment_method=rng.choice(("pause", "cancel"))
            if not has_card
            else "create_invoice",
            tax_rates=[tax] if tax else None,
            promotion_codes=codes,
        )
        if first and has_card and rng.random() < 0.2:
            self._checked_out(subscription)
        self._life_of(subscription, specs)

    def _checked_out(self, subscription: Obj) -> None:
        """The subscription was bought on a Checkout page: its completed session."""
        ledger = self.ledger
        invoice = ledger.get(subscription["latest_invoice"] or "")
        session = checkout.open_session(
            ledger,
            mode="subscription",
            currency=subscription["currency"],
            amount=invoice["amount_due"] if invoice else 0,
            customer=self.customer,
        )
        checkout.complete(
            ledger, session, self.customer, subscription=subscription, invoice=invoice
        )

    def saved_card(self) -> None:
        """The customer saves a card before paying (a setup intent); now and then the first
        card tried is declined, and either a second one saved or the attempt given up."""
        ledger = self.ledger
        method = self.customer["invoice_settings"]["default_payment_method"]
        intent = payments.open_setup_intent(ledger, self.customer)
        roll = self.rng.random()
        if roll < 0.3:
            payments.confirm_setup_intent(ledger, intent, f"{method}Old", declined=True)
        if roll < 0.15:
            self.at(ledger.now + money.DAY, lambda: payments.cancel_setup_intent(ledger, intent))
        else:
            payments.confirm_setup_intent(ledger, intent, method)

    def abandoned_checkout(self) -> None:
        """A visitor opened the Checkout page of a plan and left: the session expires."""
        price = self.catalog.plan_for("Pro", self.currency, ("month", 1))
        if price is None or self.deleted:
            return
        ledger = self.ledger
        session = checkout.open_session(
            ledger,
            mode="subscription",
            currency=self.currency,
            amount=price["unit_amount"],
            customer=None,
            email=self.customer["email"],
        )
        if session["expires_at"] <= self.plan.now:
            self.at(session["expires_at"], lambda: checkout.expire(ledger, session))
        else:  # still open at the clock: the live world expires it (the agenda stops here)
            ledger.schedule(session["id"], session["expires_at"])

    def trial_only(self, signup: int) -> None:
        def start() -> None:
            customer = self.customer
            price = self.catalog.plan_for("Pro", self.currency, ("month", 1))
            assert price is not None
            has_card = bool(customer["invoice_settings"]["default_payment_method"])
            subscription = billing.create(
                self.ledger,
                customer,
                [billing.ItemSpec(price)],
                trial_end=self.ledger.now + 14 * money.DAY,
                metadata=self._metadata("subscription"),
                missing_payment_method="pause" if not has_card else "create_invoice",
            )
            if has_card:
                # Decides not to convert: cancels at the end of the trial.
                self.at(
                    self.ledger.now + self.rng.randrange(2, 13) * money.DAY,
                    lambda: self._cancel(subscription, at_period_end=True),
                )
            elif self.rng.random() < 0.3:
                # Paused at trial end for lack of a card; adds one and resumes later.
                self.at(
                    self.ledger.now + self.rng.randrange(20, 60) * money.DAY,
                    lambda: self._add_card_and_resume(subscription),
                )

        self.at(signup, start)

    def _add_card_and_resume(self, subscription: Obj) -> None:
        if self.deleted or subscription["status"] != "paused":
            return
        method = f"pm_{self.customer['id'][4:]}Card"
        intent = payments.open_setup_intent(self.ledger, self.customer)
        payments.confirm_setup_intent(self.ledger, intent, method)
        customers.update(
            self.ledger,
            self.customer,
            {
                "invoice_settings": dict(
                    self.customer["invoice_settings"], default_payment_method=method
                )
            },
        )
        billing.resume(self.ledger, subscription)
        self._life_of(subscription, [])

    def _life_of(self, subscription: Obj, specs: list[billing.ItemSpec]) -> None:
        """Schedule what happens to a subscription: changes, pauses, and its end."""
        rng = self.rng
        now = self.ledger.now
        interval = subscription["items"]["data"][0]["price"]["recurring"]["interval"]
        mean_days = {"week": 45, "month": 210, "year": 800}[interval]
        churn_at = now + int(rng.expovariate(1 / mean_days) * money.DAY) + money.DAY

        def alive() -> bool:
            return not self.deleted and subscription["status"] not in billing.ENDED

        def when(low_days: int, high_days: int) -> int:
            return now + rng.randrange(low_days, high_days) * money.DAY

        if rng.random() < 0.18:
            self.at(when(20, 400), lambda: alive() and self._change_plan(subscription))
        if (
            len(specs) > 1
            and specs[1].price["id"] in {p["id"] for p in self.catalog.seats.values()}
            and rng.random() < 0.4
        ):
            self.at(when(15, 300), lambda: alive() and self._change_seats(subscription))
        if rng.random() < 0.04:
            self.at(when(30, 300), lambda: alive() and self._pause_collection(subscription))
        if rng.random() < 0.06:
            self.at(when(5, 200), lambda: alive() and self._one_off_item(subscription))
        if rng.random() < 0.035:
            self.at(when(10, 300), lambda: alive() and self._refund_latest(subscription))
        if rng.random() < 0.05:
            self.at(when(10, 300), lambda: alive() and self._credit_latest(subscription))
        if rng.random() < 0.007:
            self.at(when(10, 300), lambda: alive() and self._dispute_latest(subscription))

        def churn() -> None:
            if not alive():
                return
            at_period_end = rng.random() < 0.55
            self._cancel(subscription, at_period_end=at_period_end)
            if at_period_end and rng.random() < 0.15:
                self.at(
                    self.ledger.now + rng.randrange(1, 10) * money.DAY,
                    lambda: self._uncancel(subscription),
                )
                return
            roll = rng.random()
            if roll < 0.3:
                self.subscribe(self.ledger.now + rng.randrange(30, 200) * money.DAY, first=False)
            elif roll < 0.5:
                self.at(self.ledger.now + rng.randrange(40, 90) * money.DAY, self._delete)

        self.at(churn_at, churn)

    def _cancel(self, subscription: Obj, *, at_period_end: bool) -> None:
        if self.deleted or subscription["status"] in billing.ENDED:
            return
        feedback = self.rng.choice(FEEDBACK)
        if (
            at_period_end
            and subscription["status"] == "active"
            and schedules.open_schedule(self.ledger, subscription) is None
            and self.rng.random() < 0.25
        ):
            # Booked as a schedule that ends the subscription with its current period.
            items = billing.items_of(self.ledger, subscription)
            schedules.book(self.ledger, subscription, items, cancel=True)
            return
        if at_period_end:
            billing.update(
                self.ledger, subscription, cancel_at_period_end=True, cancellation_feedback=feedback
            )
        else:
            billing.cancel(self.ledger, subscription, feedback=feedback)

    def _uncancel(self, subscription: Obj) -> None:
        if (
            not self.deleted
            and subscription["status"] not in billing.ENDED
            and subscription["cancel_at_period_end"]
        ):
            billing.update(self.ledger, subscription, cancel_at_period_end=False)

    def _change_plan(self, subscription: Obj) -> None:
        items = billing.items_of(self.ledger, subscription)
        price = items[0]["price"]
        tiers = list(catalog_module.TIERS)
        current = next(
            (
                tier
                for tier in tiers
                if any(
                    p["id"] == price["id"]
                    for p in self.catalog.plans[tier].get(price["currency"], {}).values()
                )
            ),
            None,
        )
        if current is None:
            return
        index = tiers.index(current)
        up = self.rng.random() < 0.65
        target = tiers[min(len(tiers) - 1, index + 1)] if up else tiers[max(0, index - 1)]
        if target == current:
            target = tiers[index - 1] if index > 0 else tiers[index + 1]
        recurring = price["recurring"]
        new_price = self.catalog.plan_for(
            target, price["currency"], (recurring["interval"], recurring["interval_count"])
        )
        if new_price is None:
            return
        if (
            not up
            and subscription["status"] == "active"
            and schedules.open_schedule(self.ledger, subscription) is None
            and self.rng.random() < 0.5
        ):
            # Half the downgrades are booked for the end of the paid period, as a schedule.
            schedules.book(self.ledger, subscription, items, downgrade_to=new_price)
            return
        billing.update(
            self.ledger,
            subscription,
            changes=[billing.ItemChange(id=items[0]["id"], price=new_price)],
            proration_behavior="always_invoice" if self.rng.random() < 0.3 else "create_prorations",
        )

    def _change_seats(self, subscription: Obj) -> None:
        items = billing.items_of(self.ledger, subscription)
        if len(items) < 2:
            return
        seats = items[1]
        quantity = max(1, seats["quantity"] + self.rng.choice((-3, -1, 2, 5, 8)))
        billing.update(
            self.ledger,
            subscription,
            changes=[billing.ItemChange(id=seats["id"], quantity=quantity)],
        )

    def _pause_collection(self, subscription: Obj) -> None:
        behavior = self.rng.choice(("void", "mark_uncollectible", "keep_as_draft"))
        resumes = self.ledger.now + self.rng.randrange(40, 80) * money.DAY
        billing.update(
            self.ledger,
            subscription,
            pause_collection={"behavior": behavior, "resumes_at": resumes},
        )

    def _one_off_item(self, subscription: Obj) -> None:
        name = self.rng.choice(("onboarding", "consulting"))
        price = self.catalog.one_time[name][subscription["currency"]]
        coupons: tuple[Obj, ...] = ()
        if self.rng.random() < 0.3:
            coupons = (self.catalog.coupons[self.rng.choice(("WELCOME20", "PARTNER10"))],)
        invoicing.create_invoiceitem(
            self.ledger,
            self.customer,
            currency=subscription["currency"],
            price=price,
            quantity=self.rng.randrange(1, 4) if name == "consulting" else 1,
            coupons=coupons,
            subscription=subscription,
        )

    def _latest_charge(self, subscription: Obj) -> tuple[Obj, Obj] | None:
        invoice = self.ledger.get(subscription["latest_invoice"] or "")
        if invoice is None or invoice["status"] != "paid":
            return None
        charges = self.ledger.children(invoice["id"], "charge")
        return (invoice, charges[-1]) if charges else None

    def _refund_latest(self, subscription: Obj) -> None:
        found = self._latest_charge(subscription)
        if found is not None:
            self.refund(found[1], full=self.rng.random() < 0.5)

    def _dispute_latest(self, subscription: Obj) -> None:
        found = self._latest_charge(subscription)
        if found is not None:
            self.dispute(found[1])

    def _credit_latest(self, subscription: Obj) -> None:
        found = self._latest_charge(subscription)
        if found is None or found[1]["amount_refunded"] or found[1].get("disputed"):
            return
        invoice = found[0]
        lines = [line for line in invoicing.lines_of(self.ledger, invoice) if line["amount"] > 0]
        if not lines:
            return
        line = lines[0]
        net = line["amount"] - sum(entry["amount"] for entry in line["discount_amounts"])
        amount = max(1, net // self.rng.choice((1, 2, 4)))
        credit_notes.create(
            self.ledger,
            invoice,
            lines=[(line["id"], min(net, amount))],
            reason=self.rng.choice(("product_unsatisfactory", "order_change", "duplicate")),
            refund=self.rng.random() < 0.7,
        )

    def manual_invoice(self) -> None:
        if self.deleted:
            return
        rng = self.rng
        currency = self.customer.get("currency") or self.currency
        count = rng.randrange(11, 16) if rng.random() < 0.25 else rng.randrange(1, 4)
        for number in range(count):
            name = "onboarding" if number == 0 else "consulting"
            invoicing.create_invoiceitem(
                self.ledger,
                self.customer,
                currency=currency,
                price=self.catalog.one_time[name][currency],
                description=None if number == 0 else f"Consulting session {number}",
            )
        tax = self.catalog.tax_rates.get(self.country)
        coupons = (self.catalog.coupons["PARTNER10"],) if rng.random() < 0.3 else ()
        invoice = invoicing.standalone(
            self.ledger,
            self.customer,
            currency=currency,
            include_pending=True,
            coupons=coupons,
            tax_rates=[tax] if tax else None,
        )
        invoicing.finalize(self.ledger, invoice)
        invoicing.pay(self.ledger, invoice, charge_metadata=self._metadata("charge"))

    def _delete(self) -> None:
        if self.deleted:
            return
        subscriptions = self.ledger.by_customer(self.customer["id"], "subscription")
        customers.delete(self.ledger, self.customer, subscriptions)
        self.deleted = True


def _code_of(coupon: Obj | None, catalog: Catalog) -> str | None:
    """The catalog's code of a coupon (`WELCOME20`), whatever the account's id suffix."""
    if coupon is None:
        return None
    return next((code for code, found in catalog.coupons.items() if found is coupon), None)
