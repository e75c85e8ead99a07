"""GitHub adapter: one signed commit on a stable branch, one PR kept up to date, comment commands."""
