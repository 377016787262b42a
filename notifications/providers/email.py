"""Email through Django's configured backend: SMTP (`EMAIL_URL`) out of the box, the console in
development, or an email service's API through django-anymail (`EMAIL_ESP`)."""

from __future__ import annotations

import smtplib

from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMultiAlternatives, get_connection

from notifications.providers.base import EmailMessage, ProviderError, SendResult

# Addresses the server refused outright: sending again will not help.
_PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


class DjangoEmailProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
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
        except AnymailRecipientsRefused as exc:
            raise ProviderError(f"refused by the email service: {exc}", permanent=True) from exc
        except AnymailError as exc:
            status = getattr(exc, "status_code", None)
            permanent = status is not None and 400 <= status < 500 and status not in (408, 429)
            raise ProviderError(
                f"email service refused ({status}): {str(exc).splitlines()[0]}",
                permanent=permanent,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:  # after anymail's (an OSError too)
            raise ProviderError(f"mail server unavailable: {exc}") from exc
        status = getattr(mail, "anymail_status", None)  # the service's own id, when it gives one
        return SendResult(provider_message_id=(status and status.message_id) or message.message_id)
