"""The deployable model format: ``<name>.pb`` (graph) + ``<name>.data`` (weights)."""
