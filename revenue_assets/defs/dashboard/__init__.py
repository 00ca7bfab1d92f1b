"""The dashboard domain: the revenue dashboard page as an asset."""
