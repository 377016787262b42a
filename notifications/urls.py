from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("ack/<str:token>/", views.ack_link, name="ack-link"),
]
