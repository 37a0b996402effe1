"""Accounts and access: users, roles, web sessions, API tokens, the sign-in limiter, the audit log.

Each module owns one table and holds its SQL; routes, pages and the CLI call these functions."""
