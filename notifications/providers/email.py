"""Email through Django's configured backend (`EMAIL_URL`: SMTP out of the box, the console in
development; django-anymail backends plug in the same way)."""

from __future__ import annotations

import smtplib

from django.core.mail import EmailMultiAlternatives, get_connection

from notifications.providers.base import EmailMessage, ProviderError, SendResult

# Addresses the server refused outright: sending again will not help.
_PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


class DjangoEmailProvider:
    @classmethod
    def is_configured(cls) -> bool:
        return True  # Django always has a backend: SMTP, or the console in development

    def send_email(self, message: EmailMessage) -> SendResult:
        mail = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            to=[message.to],
            headers={"Message-ID": message.message_id, **dict(message.headers)},
            connection=get_connection(timeout=10),
        )
        mail.attach_alternative(message.html, "text/html")
        try:
            mail.send(fail_silently=False)
        except _PERMANENT as exc:
            raise ProviderError(f"refused by the mail server: {exc}", permanent=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ProviderError(f"mail server unavailable: {exc}") from exc
        return SendResult(provider_message_id=message.message_id)
