"""Who is asking: users with roles (agent, team lead, administrator) signed in to the
pages, and the bank's systems with bearer tokens for the JSON API (docs/desk.md)."""
