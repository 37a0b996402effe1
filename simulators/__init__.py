"""Simulators: gauge fleets and webcam scenes with ground truth."""
