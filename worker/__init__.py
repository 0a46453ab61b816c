"""Builds clients, adapters and the data converter, then runs the worker."""
