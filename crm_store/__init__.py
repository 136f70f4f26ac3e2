"""crm_store package."""
