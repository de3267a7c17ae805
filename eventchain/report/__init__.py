"""The dashboard report (SPEC §3): one self-contained HTML file from the DuckDB read models
(``queries`` reads them through a role, ``charts`` draws, ``page`` assembles)."""
