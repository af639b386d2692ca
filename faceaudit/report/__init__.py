"""faceaudit.report: render audit.json into one self-contained HTML report."""

from faceaudit.report.render import build_context, render_html, render_report

__all__ = ["build_context", "render_html", "render_report"]
