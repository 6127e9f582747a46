"""Looking inside a network without changing it: layer tables, kernels, feature maps, top-k."""
