"""Model implementations; genlab.registry lists them."""
