"""Development-only code: the embedded stack, the SMTP sink, demo and bulk seeding. Nothing
outside app/dev and the CLI imports it."""
