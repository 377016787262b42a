"""Outbound destinations: incident events posted to chat channels and webhooks.

formatters (what each kind is sent) · guard (which URLs may be posted to) · sender (one HTTP
post) · services (delivery rows and their jobs) · subscribers (the incident lifecycle, heard
inside its transaction) · delivery (the job: claim, send, record).
"""
