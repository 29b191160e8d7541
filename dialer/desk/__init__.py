"""The agent desk (/desk): what an agent sees and does during a shift (docs/desk.md)."""
