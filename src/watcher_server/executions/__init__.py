"""Pipeline executions: start, end, read, and the execution closure."""
