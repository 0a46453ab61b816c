"""HTML to PDF through WeasyPrint, which needs Debian's pango at run time.

WeasyPrint is imported on first use, so the API starts (and serves JSON, CSV and HTML)
where pango is missing; a PDF is then refused with `PdfUnavailable` (the API's 503).
"""

from __future__ import annotations

from functools import cache


class PdfUnavailable(RuntimeError):
    """WeasyPrint or its system libraries (pango) are not installed here."""


@cache
def pdf_unavailable_reason() -> str | None:
    """None when PDFs can be made; else why not (for the 503 and the tests' skip)."""
    try:
        import weasyprint  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError) as missing:
        return f"WeasyPrint cannot load ({type(missing).__name__}: {missing}); install pango"
    return None


def html_to_pdf(html: str) -> bytes:
    reason = pdf_unavailable_reason()
    if reason is not None:
        raise PdfUnavailable(reason)
    import weasyprint

    pdf: bytes | None = weasyprint.HTML(string=html, base_url=None).write_pdf()
    assert pdf is not None
    return pdf
