"""`from_template`: the one way builders make an object from Stripe's example object."""

from __future__ import annotations

import pytest

from revenue_assets.sandbox import shapes


def test_from_template_sets_fields_on_a_copy() -> None:
    before = dict(shapes.template("refund"))
    refund = shapes.from_template("refund", id="re_1", amount=5)
    assert refund["id"] == "re_1" and refund["amount"] == 5
    assert list(refund) == list(before)  # the template's field order, nothing added
    assert shapes.template("refund") == before


def test_from_template_refuses_a_field_stripe_does_not_send() -> None:
    with pytest.raises(KeyError, match="refund template has no field amout"):
        shapes.from_template("refund", id="re_1", amout=5)
