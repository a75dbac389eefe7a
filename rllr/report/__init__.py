"""Reports: Markdown tables (pure), matplotlib figures and the Markdown/HTML renderer."""
