"""Live inputs: Prometheus (and compatible backends) → snapshot."""
