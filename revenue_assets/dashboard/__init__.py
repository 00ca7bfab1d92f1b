"""The revenue dashboard: one self-contained HTML page built from the revenue layer's tables.

`queries` reads the figures (SQL in `sql/`), `charts` arranges them into plotly figures,
`render` fills the page template, `build` ties them to a warehouse file. No Dagster here: the
asset (`defs/dashboard`) and `revenue-assets dashboard` both call `build.build_dashboard`.
"""
