"""`uvicorn app.asgi:app` (or gunicorn with uvicorn workers): the app from the environment."""

from app.main import create_app

app = create_app()
