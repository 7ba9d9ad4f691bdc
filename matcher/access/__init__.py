"""Who may do what: users and API keys, the authorization rules, and the audit log."""
