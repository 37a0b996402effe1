"""The API's query modules for the tables no shared-package model owns: one module per table.

Route handlers call these (and vigie's *_queries modules); they never build SQL themselves.
See docs/api.md, "Where the SQL lives".
"""
