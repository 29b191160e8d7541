"""Collections auto-dialer."""
