"""The supervisor console (/console): the live wallboard first (docs/console.md)."""
