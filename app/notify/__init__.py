"""Telling people and tools: what messages say (messages, formatting, in_app, the HTML template
in templates/), the outbox relay (relay), delivery over e-mail (mailer), signed webhooks
(webhook_sender), in-app and live channels (live), one delivery at a time (deliver)."""
