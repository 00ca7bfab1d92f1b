"""What Stripe keeps under a customer: balance transactions, tax ids and payment methods, plus
the setup attempts behind saved cards; in the engine (any ledger) and over HTTP.

Stripe serves these nested under their parent (`/v1/customers/{id}/tax_ids/{txi}`), with
permissions of their own, so a client syncing them as child tables must walk every parent and
ask each list separately. The sandbox serves them the same way, from objects stored with the
customer in their indexed `customer` column (a detached payment method loses it, and with it its
place in the customer's list), so that such a client meets Stripe's paths, pages and 404s.

The balance rule Stripe keeps, and the sandbox with it: a customer's `balance` is the sum of its
balance transactions, and every transaction's `ending_balance` is the balance right after it
(negative: credit the customer has, positive: an amount it owes).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revenue_assets.sandbox import params as p
from revenue_assets.sandbox import payments
from revenue_assets.sandbox.errors import SandboxError, invalid, missing
from revenue_assets.sandbox.forms import Params, as_list
from revenue_assets.sandbox.ledger import Ledger, StoreLedger
from revenue_assets.sandbox.listing import Filter, Resource, list_options, only
from revenue_assets.sandbox.shapes import customer_children as shapes
from revenue_assets.sandbox.shapes.templates import deleted_stub
from revenue_assets.sandbox.store import Page, Store

if TYPE_CHECKING:
    from revenue_assets.sandbox.world import World

Obj = dict[str, Any]

VERIFY_AFTER = 60  # seconds Stripe takes, in the sandbox, to check a tax id with its registry
# Stripe's magic test payment methods (`pm_card_visa`): each use makes a fresh object on Stripe,
# so the sandbox, which keeps the token as the id, builds no object for them.
TEST_TOKEN_PREFIX = "pm_card_"


# -- customer balance --------------------------------------------------------------------------


def record_balance(
    ledger: Ledger,
    customer: Obj,
    amount: int,
    currency: str,
    *,
    type: str,
    ending_balance: int,
    invoice: str | None = None,
    description: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """Book one balance transaction of a change the caller made to `customer["balance"]`."""
    with ledger.aside(customer["id"]) as ids:
        txn_id = ids.new("cbtxn")
    txn = shapes.customer_balance_transaction(
        txn_id,
        ledger.now,
        customer=customer["id"],
        amount=amount,
        currency=currency,
        ending_balance=ending_balance,
        type=type,
        invoice=invoice,
        description=description,
        metadata=metadata,
    )
    ledger.put(txn, parent=customer["id"])
    return txn


def adjust_balance(
    ledger: Ledger,
    customer: Obj,
    amount: int,
    currency: str,
    *,
    description: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A manual adjustment (negative: a credit): the customer's balance moves by `amount` and
    `customer.updated` names the balance before."""
    if customer.get("currency") and customer["currency"] != currency:
        raise invalid(
            f"The currency {currency} does not match the customer's currency "
            f"{customer['currency']}.",
            param="currency",
        )
    before = customer.get("balance") or 0
    after = before + amount
    txn = record_balance(
        ledger,
        customer,
        amount,
        currency,
        type="adjustment",
        ending_balance=after,
        description=description,
        metadata=metadata,
    )
    previous: Obj = {"balance": before}
    customer["balance"] = after
    if not customer.get("currency"):
        previous["currency"] = customer.get("currency")
        customer["currency"] = currency
    ledger.put(customer)
    with ledger.aside(customer["id"]):
        ledger.emit("customer.updated", customer, previous)
    return txn


def balance_moved_by_invoice(
    ledger: Ledger, customer: Obj, invoice: Obj, before: int, type: str
) -> None:
    """An invoice moved the customer's balance: its finalization spent credit or added a debt
    (`applied_to_invoice`), or its voiding gave back what it had consumed
    (`unapplied_from_invoice`). The transaction that says so, if the balance moved."""
    after = customer.get("balance") or 0
    if after != before:
        record_balance(
            ledger,
            customer,
            after - before,
            invoice["currency"],
            type=type,
            ending_balance=after,
            invoice=invoice["id"],
        )


def card_hash(customer_id: str | None, number: int = 0) -> Obj:
    """The card behind a customer's payment method: its first card is the one its charges
    show (same brand, last4, fingerprint); later cards are other cards of the same set."""
    index = zlib.crc32((customer_id or "").encode()) + 3 * number
    details = payments._card_details(index)["card"]
    return shapes.card(
        details["brand"],
        details["last4"],
        details["fingerprint"],
        details["exp_month"] or 12,
        details["exp_year"],
        details.get("country") or "US",
    )


def _card_number(method_id: str) -> int:
    """Which of a customer's cards an id names (`…Card`, `…Card2`; `…CardOld` is a fourth)."""
    if method_id.endswith("Old"):
        return 3
    digits = re.search(r"Card(\d+)$", method_id)
    return int(digits.group(1)) - 1 if digits else 0


def card_method(ledger: Ledger, method_id: str, customer: Obj | None) -> Obj | None:
    """The payment method object of a card id, built (unattached) the first time it is named;
    None for Stripe's shared test tokens."""
    if method_id.startswith(TEST_TOKEN_PREFIX):
        return None
    found = ledger.get(method_id)
    if found is not None and found.get("object") == "payment_method":
        return found
    owner = customer["id"] if customer else None
    method = shapes.payment_method(
        method_id,
        ledger.now,
        customer=None,
        card=card_hash(owner, _card_number(method_id)),
        name=customer.get("name") if customer else None,
        email=customer.get("email") if customer else None,
        country=((customer or {}).get("address") or {}).get("country"),
    )
    ledger.put(method)
    return method


def attach(ledger: Ledger, method: Obj, customer: Obj) -> Obj:
    """Attach a payment method to a customer (`payment_method.attached`); a no-op when it is
    already that customer's."""
    if method["customer"] == customer["id"]:
        return method
    if method["customer"] is not None:
        raise SandboxError(
            400,
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
        )
    method["customer"] = customer["id"]
    ledger.put(method)
    with ledger.aside(customer["id"]):
        ledger.emit("payment_method.attached", method)
    return method


def save_card(
    ledger: Ledger, customer: Obj, method_id: str, *, announce: bool = True
) -> Obj | None:
    """A card id the sandbox gives a customer, as a payment method attached to it.

    `announce=False` for the card a customer is created with: it is part of the customer as
    created (Stripe emits `payment_method.attached` only when a card is attached to an existing
    customer), so creating a customer still emits `customer.created` alone.
    """
    method = card_method(ledger, method_id, customer)
    if method is None:
        return None
    if not announce and method["customer"] is None:
        method["customer"] = customer["id"]
        ledger.put(method)
        return method
    return attach(ledger, method, customer)


def detach(ledger: Ledger, method: Obj) -> Obj:
    """Detach a payment method (`payment_method.detached`): it leaves its customer's list, and
    stops being the customer's default (`customer.updated`) if it was."""
    owner = method["customer"]
    if owner is None:
        raise SandboxError(
            400,
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    method["customer"] = None
    ledger.put(method)
    with ledger.aside(owner):
        ledger.emit("payment_method.detached", method, {"customer": owner})
        customer = ledger.get(owner)
        settings = (customer or {}).get("invoice_settings") or {}
        if customer is not None and settings.get("default_payment_method") == method["id"]:
            previous = {"invoice_settings": settings}
            customer["invoice_settings"] = dict(settings, default_payment_method=None)
            ledger.put(customer)
            ledger.emit("customer.updated", customer, previous)
    return method


# -- setup attempts ----------------------------------------------------------------------------


def record_attempt(
    ledger: Ledger, intent: Obj, method_id: str, error: Obj | None, customer: Obj | None
) -> Obj:
    """One confirmation of a setup intent, which then names it as its `latest_attempt`; a
    saved card becomes (or stays) a payment method attached to the intent's customer."""
    method = card_method(ledger, method_id, customer)
    card = method["card"] if method is not None else card_hash(None)
    with ledger.aside(intent.get("customer") or intent["id"]) as ids:
        attempt_id = ids.new("setatt")
    attempt = shapes.setup_attempt(
        attempt_id,
        ledger.now,
        setup_intent=intent["id"],
        customer=intent.get("customer"),
        payment_method=method_id,
        card=card,
        usage=intent.get("usage") or "off_session",
        error=error,
    )
    ledger.put(attempt, parent=intent["id"])
    if error is None and method is not None and customer is not None:
        attach(ledger, method, customer)
    intent["latest_attempt"] = attempt["id"]
    return attempt


# -- tax ids -----------------------------------------------------------------------------------

# The tax id types the sandbox accepts (a subset of Stripe's ~100), and the country of each.
TAX_ID_TYPES: dict[str, str | None] = {
    "eu_vat": None,  # the country is the number's prefix
    "gb_vat": "GB",
    "us_ein": "US",
    "ca_bn": "CA",
    "ca_gst_hst": "CA",
    "au_abn": "AU",
    "nz_gst": "NZ",
    "ch_vat": "CH",
    "no_vat": "NO",
    "in_gst": "IN",
    "jp_cn": "JP",
    "sg_gst": "SG",
    "br_cnpj": "BR",
    "mx_rfc": "MX",
    "za_vat": "ZA",
    "eu_oss_vat": None,
}
EU_PREFIXES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "EL",
        "ES",
        "FI",
        "FR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "XI",
    ]
)


def add_tax_id(ledger: Ledger, customer: Obj, type: str, value: str, *, verify: bool = True) -> Obj:
    """A tax id for a customer (`customer.tax_id.created`); types Stripe checks with a
    registry start `pending` and, with `verify`, are checked a minute later."""
    if type not in TAX_ID_TYPES:
        known = ", ".join(sorted(TAX_ID_TYPES))
        raise invalid(f"Invalid value for type: must be one of {known}", param="type")
    compact = value.replace(" ", "").upper() if type.endswith("_vat") else value.strip()
    country = TAX_ID_TYPES[type]
    if type == "eu_vat":
        prefix = compact[:2]
        if prefix not in EU_PREFIXES or len(compact) < 4:
            raise SandboxError(
                400,
                f"Invalid value for eu_vat: {value}.",
                code="tax_id_invalid",
                param="value",
            )
        country = "GR" if prefix == "EL" else ("GB" if prefix == "XI" else prefix)
    if not compact:
        raise SandboxError(400, "Invalid value for value.", code="tax_id_invalid", param="value")
    with ledger.aside(customer["id"]) as ids:
        tax_id = shapes.tax_id(
            ids.new("txi"),
            ledger.now,
            customer=customer["id"],
            type=type,
            value=compact,
            country=country,
        )
        ledger.put(tax_id, parent=customer["id"])
        ledger.emit("customer.tax_id.created", tax_id)
    if verify and tax_id["verification"]["status"] == "pending":
        ledger.schedule(tax_id["id"], ledger.now + VERIFY_AFTER)
    return tax_id


def verify_tax_id(ledger: Ledger, tax_id: Obj) -> Obj:
    """The registry's answer (`customer.tax_id.updated`): verified, with the registered name."""
    ledger.schedule(tax_id["id"], None)
    if tax_id.get("deleted") or tax_id["verification"]["status"] != "pending":
        return tax_id
    customer = ledger.get(tax_id["customer"]) or {}
    previous = {"verification": tax_id["verification"]}
    tax_id["verification"] = {
        "status": "verified",
        "verified_address": None,
        "verified_name": (customer.get("name") or "").upper() or None,
    }
    ledger.put(tax_id)
    with ledger.aside(tax_id["customer"]):
        ledger.emit("customer.tax_id.updated", tax_id, previous)
    return tax_id


def delete_tax_id(ledger: Ledger, tax_id: Obj) -> Obj:
    """Delete a tax id (`customer.tax_id.deleted`, with the id as it was): it leaves the
    customer's list and answers 404 from then on."""
    ledger.schedule(tax_id["id"], None)
    with ledger.aside(tax_id["customer"]):
        ledger.emit("customer.tax_id.deleted", tax_id)
    stub = deleted_stub(tax_id["id"], "tax_id")
    ledger.put(stub)
    return stub


def tax_ids_of(children: list[Obj], customer_id: str) -> Obj:
    """A customer's includable `tax_ids` (`expand[]=tax_ids`): the newest ten, with the count."""
    found = [obj for obj in reversed(children) if not obj.get("deleted")]
    return {
        "object": "list",
        "data": found[:10],
        "has_more": len(found) > 10,
        "total_count": len(found),
        "url": f"/v1/customers/{customer_id}/tax_ids",
    }


# -- HTTP: /v1/customers/{id}/<child>[/{child_id}] ------------------------------------------------


def _field(path: str, *enum: str) -> Filter:
    return Filter("field", path, enum=enum)


@dataclass(frozen=True)
class Child:
    """One nested list of a customer: the kind it holds, the restricted-key permission (base
    name), the list filters Stripe documents for it, and which writes it takes."""

    kind: str
    permission: str
    filters: dict[str, Filter] = field(default_factory=dict)
    created_filter: bool = False
    create: bool = False  # POST /v1/customers/{id}/<child>
    update: bool = False  # POST /v1/customers/{id}/<child>/{child_id}
    delete: bool = False  # DELETE /v1/customers/{id}/<child>/{child_id}

    def resource(self) -> Resource:
        return Resource(self.kind, self.filters, created_filter=self.created_filter)


CHILDREN: dict[str, Child] = {
    # Balance transactions are part of the customer to restricted keys (Stripe's dashboard
    # lists no permission of their own).
    "balance_transactions": Child(
        "customer_balance_transaction",
        "rak_customer",
        {"invoice": _field("invoice")},
        created_filter=True,
        create=True,
        update=True,
    ),
    # `rak_tax_id_*` is the name Stripe's create-key links use; its documentation we could
    # check does not spell it out, so it is unverified.
    "tax_ids": Child("tax_id", "rak_tax_id", create=True, delete=True),
    "payment_methods": Child(
        "payment_method",
        "rak_payment_method",
        {
            "type": _field("type"),
            "allow_redisplay": _field("allow_redisplay", "always", "limited", "unspecified"),
        },
    ),
}


@dataclass(frozen=True)
class Endpoint:
    """A request to a customer's nested list or object: what it needs and touches."""

    child: Child
    customer_id: str
    child_id: str | None
    write: bool

    @property
    def permission(self) -> str:
        return f"{self.child.permission}_{'write' if self.write else 'read'}"


def endpoint(method: str, parts: list[str]) -> Endpoint | None:
    """The nested endpoint of a request, or None when the path is not one (the server's
    usual routes answer it); a nested path Stripe has no such method for is its 404."""
    if len(parts) not in (3, 4) or parts[0] != "customers" or not all(parts):
        return None
    child = CHILDREN.get(parts[2])
    if child is None:
        return None
    child_id = parts[3] if len(parts) == 4 else None
    allowed = method == "GET" or (
        (method == "POST" and (child.create if child_id is None else child.update))
        or (method == "DELETE" and child_id is not None and child.delete)
    )
    if not allowed:
        raise SandboxError(
            404,
            f"Unrecognized request URL ({method}: /v1/{'/'.join(parts)}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )
    return Endpoint(child, parts[1], child_id, method != "GET")


def _customer_exists(store: Store, account: str, customer_id: str) -> None:
    found = store.get_body(customer_id, account, "customer")
    if found is None or found[1]:
        raise missing("customer", customer_id)


def read_list(store: Store, account: str, target: Endpoint, params: Params) -> Page:
    """One page of a customer's nested list, newest first."""
    _customer_exists(store, account, target.customer_id)
    options = list_options(target.child.resource(), params)
    try:
        return store.list_page(account, target.child.kind, customer=target.customer_id, **options)
    except KeyError as error:
        param = "starting_after" if params.get("starting_after") else "ending_before"
        raise missing(target.child.kind, str(error.args[0]), param=param) from None


def read_one(store: Store, account: str, target: Endpoint, params: Params) -> bytes:
    """One object of a customer's nested list: 404 unless it is (still) that customer's."""
    only(params, {"expand"})
    _customer_exists(store, account, target.customer_id)
    child_id = target.child_id or ""
    found = store.get_body(child_id, account, target.child.kind)
    if found is None or found[1]:
        raise missing(target.child.kind, child_id)
    if store.get(child_id, account).get("customer") != target.customer_id:  # type: ignore[union-attr]
        raise missing(target.child.kind, child_id)
    return found[0]


def write(
    world: World,
    ledger: StoreLedger,
    method: str,
    customer_id: str,
    child: str,
    child_id: str | None,
    params: Params,
) -> Obj:
    """The nested writes, inside one World change (see `World.nested`)."""
    customer = ledger.get(customer_id)
    if customer is None or customer.get("object") != "customer" or customer.get("deleted"):
        raise missing("customer", customer_id)
    if child == "balance_transactions":
        if child_id is None:
            return _create_balance_transaction(ledger, customer, params)
        return _update_balance_transaction(ledger, customer, child_id, params)
    if child == "tax_ids":
        if child_id is None:
            type = str(p.required(params, "type"))
            return add_tax_id(ledger, customer, type, str(p.required(params, "value")))
        return delete_tax_id(ledger, _owned(ledger, "tax_id", child_id, customer_id))
    raise missing(child, child_id or customer_id)  # pragma: no cover - `endpoint` refuses it


def _owned(ledger: Ledger, kind: str, object_id: str, customer_id: str) -> Obj:
    obj = ledger.get(object_id)
    if (
        obj is None
        or obj.get("object") != kind
        or obj.get("deleted")
        or obj.get("customer") != customer_id
    ):
        raise missing(kind, object_id)
    return obj


def _create_balance_transaction(ledger: StoreLedger, customer: Obj, params: Params) -> Obj:
    amount = p.integer(params, "amount")
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    if amount == 0:
        raise invalid("The amount must be a non-zero integer.", param="amount")
    currency = str(p.required(params, "currency")).lower()
    metadata = p.metadata(params)
    return adjust_balance(
        ledger,
        customer,
        amount,
        currency,
        description=p.text(params, "description"),
        metadata=p.merge_metadata({}, metadata) if metadata is not None else None,
    )


def _update_balance_transaction(
    ledger: StoreLedger, customer: Obj, txn_id: str, params: Params
) -> Obj:
    """Only the description and metadata of a balance transaction change (Stripe emits no
    event for it)."""
    txn = _owned(ledger, "customer_balance_transaction", txn_id, customer["id"])
    only(params, {"description", "metadata"})
    if "description" in params:
        txn["description"] = p.text(params, "description")
    changes = p.metadata(params)
    if changes is not None:
        txn["metadata"] = p.merge_metadata(txn.get("metadata") or {}, changes)
    ledger.put(txn)
    return txn


# -- HTTP: /v1/payment_methods/{pm}[/attach|/detach] ------------------------------------------------


def _method(ledger: Ledger, method_id: str) -> Obj:
    obj = ledger.get(method_id)
    if obj is None or obj.get("object") != "payment_method":
        raise missing("payment_method", method_id)
    return obj


def attach_handler(world: World, ledger: StoreLedger, params: Obj, method_id: str) -> Obj:
    method = _method(ledger, method_id)
    customer_id = p.required(params, "customer")
    customer = ledger.get(str(customer_id))
    if customer is None or customer.get("object") != "customer" or customer.get("deleted"):
        raise missing("customer", str(customer_id), "customer")
    return attach(ledger, method, customer)


def detach_handler(world: World, ledger: StoreLedger, params: Obj, method_id: str) -> Obj:
    return detach(ledger, _method(ledger, method_id))


def update_handler(world: World, ledger: StoreLedger, params: Obj, method_id: str) -> Obj:
    """Billing details, `allow_redisplay` and metadata (`payment_method.updated`)."""
    method = _method(ledger, method_id)
    previous: Obj = {}
    details = p.mapping(params, "billing_details")
    if details:
        merged = dict(method["billing_details"])
        for name in ("email", "name", "phone"):
            if name in details:
                merged[name] = details[name] or None
        if isinstance(details.get("address"), dict):
            merged["address"] = {
                key: details["address"].get(key) or None for key in merged["address"]
            }
        if merged != method["billing_details"]:
            previous["billing_details"] = method["billing_details"]
            method["billing_details"] = merged
    if "allow_redisplay" in params:
        value = str(params["allow_redisplay"])
        if value not in ("always", "limited", "unspecified"):
            raise invalid(
                "Invalid allow_redisplay: must be one of always, limited, or unspecified",
                param="allow_redisplay",
            )
        if value != method["allow_redisplay"]:
            previous["allow_redisplay"] = method["allow_redisplay"]
            method["allow_redisplay"] = value
    changes = p.metadata(params)
    if changes is not None:
        merged_metadata = p.merge_metadata(method["metadata"], changes)
        if merged_metadata != method["metadata"]:
            previous["metadata"] = method["metadata"]
            method["metadata"] = merged_metadata
    ledger.put(method)
    ledger.emit("payment_method.updated", method, previous)
    return method


def expand_paths(params: Params) -> list[str]:
    return [str(path) for path in as_list(params.get("expand"))]
