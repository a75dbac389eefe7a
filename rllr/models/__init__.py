"""Models: registry and fetch of real small models, loading, chat rendering, named adapters."""
