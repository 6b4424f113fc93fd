"""Use cases called by the HTTP API and the CLI: jobs, runs, users, audit."""
