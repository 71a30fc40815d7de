"""Runtime: placement of ops on devices, sessions that run a model, profiles."""
