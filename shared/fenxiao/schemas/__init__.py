"""The documents the API accepts and the services rely on (settings, orders, withdrawals), with their
validation: each calls the domain's checks, so a rule is written once and holds at the door and inside."""
