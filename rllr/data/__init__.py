"""Data: reading task records from local folders or the hub, and the datasets built on them."""
