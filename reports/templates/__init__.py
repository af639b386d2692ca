"""Jinja2 templates of the HTML audit report (installed as package data)."""
