"""The audit log: who did what to which, when, from where, and how it ended; never any content."""
