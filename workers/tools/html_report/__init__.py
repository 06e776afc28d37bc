"""The comparison as a table and as a self-contained HTML report with inline SVG charts."""
