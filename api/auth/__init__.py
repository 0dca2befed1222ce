"""Who is asking: OIDC bearer tokens and page sign-in, API keys, a trusted proxy and demo mode."""
