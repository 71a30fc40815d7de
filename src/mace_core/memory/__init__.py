"""Memory planning: tensor lifetimes, arena offsets, and the figures to judge a plan by."""
