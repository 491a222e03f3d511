"""`uvicorn app.asgi:app` (or gunicorn with uvicorn workers): the app from the environment, with
logging as `partner-leads serve` sets it up (JSON lines in production, uvicorn's lines too)."""

from app.config import get_settings
from app.main import create_app
from app.observability.logs import configure_logging

settings = get_settings()
configure_logging(json=settings.logs_as_json, level=settings.log_level)
app = create_app(settings)
