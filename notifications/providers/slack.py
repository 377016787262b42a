"""Slack direct messages through the official slack_sdk client (chat.postMessage with a bot
token). `SLACK_API_BASE_URL` points it elsewhere (the tests' loopback server, a proxy)."""

from __future__ import annotations

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from notifications.accounts import slack_token
from notifications.providers.base import ChatMessage, ProviderError, SendResult

# Errors another try cannot fix (a user or channel that is not there, a revoked token...).
_RETRYABLE = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def slack_client(token: str) -> WebClient:
    kwargs = {"token": token, "timeout": 10}
    if settings.SLACK_API_BASE_URL:
        kwargs["base_url"] = settings.SLACK_API_BASE_URL.rstrip("/") + "/"
    return WebClient(**kwargs)


class SlackProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        return bool(slack_token(organization_id))

    def send_chat(self, message: ChatMessage) -> SendResult:
        try:
            answer = slack_client(slack_token(message.organization_id)).chat_postMessage(
                channel=message.to, text=message.text, blocks=list(message.blocks) or None
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            raise ProviderError(
                f"Slack refused: {error}", permanent=error not in _RETRYABLE
            ) from exc
        except (SlackClientError, OSError) as exc:
            raise ProviderError(f"Slack unavailable: {exc}") from exc
        return SendResult(provider_message_id=f"{answer.get('channel', '')}/{answer.get('ts', '')}")
