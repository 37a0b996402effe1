"""Motion detectors: a shared pipeline and interchangeable background models."""
