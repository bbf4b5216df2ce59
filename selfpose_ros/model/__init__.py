"""Self-supervised CSE model: encoder, heads, correspondence and a differentiable soft rasteriser."""
