"""Site-wide views that belong to no app."""
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """``/favicon.ico``, which browsers and tools ask for on their own: the site's icon."""
    return HttpResponseRedirect(static("favicon.svg"))
