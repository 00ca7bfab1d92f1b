"""Getting Stripe's data into the warehouse: full listings, events applied, the Events API pull."""
