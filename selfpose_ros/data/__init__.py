"""Data floor: frames, instances, labels, crops, TF, images, stamps, topics and bag reading (shared)."""
