"""`python -m revenue_assets.cli` is `revenue-assets`."""

from revenue_assets.cli import main

main()
