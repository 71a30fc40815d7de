"""The reference device: runs every core op with its numpy definition."""
