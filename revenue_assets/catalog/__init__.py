"""What we know of Stripe itself, shared by every layer: its tables, its months, its keys."""
