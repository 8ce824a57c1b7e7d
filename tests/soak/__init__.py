"""Soak and connection-storm tests: many real sockets against one real server process."""
