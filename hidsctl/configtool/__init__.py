"""`hidsctl config`: check, show and import configuration."""
