from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: both modules read models, which exist only once apps have loaded.
        from escalation import metrics, subscribers

        subscribers.register()
        metrics.register_collectors()
