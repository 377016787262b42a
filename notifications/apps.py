from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the subscribers read models, which exist only once apps have loaded.
        from notifications import status_updates
        from notifications.outbound import subscribers

        subscribers.register()
        status_updates.register()
