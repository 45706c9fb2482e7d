"""What people look at: result JSON files, terminal tables, figures."""
