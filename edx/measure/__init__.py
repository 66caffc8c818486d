"""Per-test measurements: model objects in, typed results with units and quality flags out."""
