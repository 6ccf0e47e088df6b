"""Staff: sign-in, sessions, API tokens, throttling, access rules, accounts; their pages and API."""
