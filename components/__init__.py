"""Component resources, one per module. Each takes typed args and registers its outputs once."""
