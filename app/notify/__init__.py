"""Telling people and tools: message rendering, the outbox relay, delivery over e-mail,
webhooks, in-app and live channels."""
