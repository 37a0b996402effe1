"""A simulated fleet of tipping-bucket rain gauges speaking the docs/mqtt.md contract."""
