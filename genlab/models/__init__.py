"""Model implementations; genlab.models.registry lists them."""
