"""carepath package."""
