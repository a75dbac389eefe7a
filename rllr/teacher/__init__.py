"""Teacher models: OpenAI-compatible client and server, caching, rankings, judge."""
