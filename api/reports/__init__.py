"""Printable documents built from the records: the program outcomes report and the
concurrent-review packet (CSV, HTML, PDF, SVG charts). Rendering only: no I/O."""
