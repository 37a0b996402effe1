"""Id patterns every service and the API agree on (regular expressions, anchored).

The database checks the same shapes (e.g. catchments.id in 100_alerts_core.sql); a change here
is a change of contract, with a migration.
"""

from __future__ import annotations

# Stations, catchments and Montana sets: lower-case slugs, 2 to 63 characters.
SLUG = r"^[a-z0-9][a-z0-9-]{1,62}$"
STATION_ID = SLUG
CATCHMENT_ID = SLUG
MONTANA_SET_ID = SLUG
# Free text (a name, a filter) with no control character: PostgreSQL refuses NUL in text, and
# names are shown on pages and in SMS.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
# Communes of the Oise (département 60) by INSEE code.
INSEE = r"^60[0-9]{3}$"
# A LoRaWAN device EUI, lower-case hex.
DEV_EUI = r"^[0-9a-f]{16}$"
# A rule's scope: one station, catchment or commune, or '*' for all of them.
SCOPE_ALL = "*"
SCOPE_ID = r"^(\*|[a-z0-9][a-z0-9-]{1,62})$"
# bigserial ids (incidents, rules, subscribers, CAP messages): 1 … 2^63 - 1.
BIGINT_MAX = 2**63 - 1
# Station ids starting with this are the services' own broker accounts.
SERVICE_PREFIX = "vigie-"
