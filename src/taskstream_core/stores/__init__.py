"""Store adapters; each module is imported only when its URL scheme is used."""
