"""Provider alerts: subscriptions, reverse matching, the outbox, webhooks, e-mail, deliveries and the feed."""
