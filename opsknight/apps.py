from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opsknight"
    label = "opsknight"
    verbose_name = "OpsKnight core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: metrics reads models, which exist only once apps load.
        from opsknight import metrics

        metrics.register_collectors()
