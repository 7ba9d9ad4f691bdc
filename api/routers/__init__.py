"""HTTP routers: thin adapters over services and repositories."""
