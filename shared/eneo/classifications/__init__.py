"""Security classifications: a tenant's ordered levels, carried by spaces and models (issue 15, part 6)."""
