"""What people and CI read: rich rendering, JSON and JUnit reports, step coverage."""
