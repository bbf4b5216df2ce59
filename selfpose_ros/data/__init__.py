"""Data handling shared by training, inference, recording and the nodes: frames, instances, crops, TF, bags, images."""
