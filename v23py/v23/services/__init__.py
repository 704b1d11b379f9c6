"""v.io/v23/services/... VDL packages."""
