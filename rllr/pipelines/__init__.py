"""End-to-end reproduction pipelines (`rllr reproduce rllr|glue`) and their stage runner."""
