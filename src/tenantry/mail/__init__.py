"""Email senders (console, files, SMTP, SES), the account email templates and the outbox dispatcher.

Every sender implements `tenantry.ports.Mailer`; `build_mailer` picks one from settings.
"""
