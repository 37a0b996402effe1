"""Vigie shared package: settings, database, migrations, MQTT setup and domain types.

The four services (ingest, api, alerts, camera) import this package; it imports none of them.
"""
