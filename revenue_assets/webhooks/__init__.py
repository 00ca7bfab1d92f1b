"""Stripe webhooks, from the HTTP edge to the event inbox.

    receiver.py      the ASGI app: cap, verify, store durably, then answer 200 (or why not)
    signature.py     Stripe-Signature checked with the SDK against every accepted secret
    server.py        uvicorn around it: `webhooks serve`, or a background thread for tests
    writer.py        group commit: one SQLite transaction (and one fsync) per burst of requests
    inbox.py         the SQLite event inbox the Dagster sensors drain by `seq` (the contract)
    events.py        what the inbox extracts from an event payload (table, partition, ...)
    statedb.py       the state file itself: mode 0600, WAL, schema, key-value and counters
    secrets.py       which signing secrets the receiver accepts (environment, stored, rolled)
    registration.py  `webhooks register` / `status`: the endpoint on Stripe's side
    health.py        one health verdict for the CLI and the Dagster asset check

Nothing here imports Dagster: the receiver must start in well under a second and stay small.
"""
