"""Registers the default memory planner."""
