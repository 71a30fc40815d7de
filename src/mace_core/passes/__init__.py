"""Graph passes that run at conversion time."""
