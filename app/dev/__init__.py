"""Development-only code; in app, only the CLI imports it.

- stack, ports: embedded Postgres and Valkey in the data folder.
- smtp_sink: a local SMTP server filing mail as .eml files.
- Seeding: catalogue (names, demo partners), partners (creating one), lead_paths and
  lead_generator (leads in lifecycle states), copy_writer (COPY), demo_world, bulk (bench
  worlds), demo_users (whom a dev token is for), demo_lead (a lead arriving now).
"""
