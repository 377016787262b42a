from django.contrib import admin

from incidents.models import Service


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "is_active", "created_at"]
    list_filter = ["organization", "is_active"]
    search_fields = ["name", "description"]
