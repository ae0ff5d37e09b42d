"""Reserved for later stages (see DESIGN.md section 1)."""
