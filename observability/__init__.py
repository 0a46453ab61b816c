"""Process-wide logging and tracing, set up the same way by every carepath process."""
