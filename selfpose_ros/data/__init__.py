"""Data floor: frames, instances, labels and bag reading shared by inference, training and the nodes."""
