"""Single sign-on through each tenant's OpenID Connect provider (docs/auth.md, "Single sign-on")."""
