"""Usage and quotas: tokens per tenant, user, assistant and model per day; stored bytes; the limits on both."""
