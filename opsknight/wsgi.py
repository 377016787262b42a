"""WSGI entry point, for serving HTTP from WSGI workers beside daphne for websockets."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsknight.settings")
application = get_wsgi_application()
