"""Benchmarks behind `make bench` (`python -m bench`): one JSON object on stdout."""
