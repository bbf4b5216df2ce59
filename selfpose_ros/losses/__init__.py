"""Self-supervised losses of the CSE model; each takes explicit tensors (no model inside)."""
