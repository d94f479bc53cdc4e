"""What every part of the service shares: settings, errors, the HTTP client, the app's edge,
and the two concerns of a request: `access` (who is calling) and `identity` (the providers
behind the token route)."""
