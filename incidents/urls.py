from django.urls import path

urlpatterns: list = []  # the responder views register here
