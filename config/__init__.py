"""Configuration every carepath process reads: environment variables (and their _FILE variants)."""
