"""Fault injection under load: a dependency or the server itself fails while workers submit."""
