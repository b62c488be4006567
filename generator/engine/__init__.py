"""The CAM engine: the CNN to explain (torchvision's or a checkpoint, its classifier head,
its target layer) and the class activation maps, one forward and one backward pass per batch."""
