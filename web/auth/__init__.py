"""Who is calling: Entra ID access tokens (the add-in) and personal API tokens (scripts)."""
