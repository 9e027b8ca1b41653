"""``runserver`` served by Daphne (ASGI), on port 8001 by default."""
from daphne.management.commands.runserver import Command as DaphneRunserver


class Command(DaphneRunserver):
    """Daphne's development server, listening on port 8001 unless told otherwise."""

    default_port = "8001"
