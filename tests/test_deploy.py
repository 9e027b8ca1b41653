"""The production environment the README documents passes Django's deployment checks."""
from __future__ import annotations

import secrets
import subprocess
import sys

from django.conf import settings


def test_check_deploy_is_clean_with_the_readme_production_environment() -> None:
    env = {"PATH": "/usr/bin", "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
           "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "voice.example.com",
           "CSRF_TRUSTED_ORIGINS": "https://voice.example.com", "HTTPS": "1"}
    assert "CSRF_TRUSTED_ORIGINS=https://voice.example.com HTTPS=1" in (
        settings.BASE_DIR / "README.md").read_text()

    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], env=env,
                          cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_https_redirects_plain_http_but_not_the_health_check(client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    page = client.get("/tts/")
    proxied = client.get("/tts/", HTTP_X_FORWARDED_PROTO="https")
    health = client.get("/healthz")

    assert page.status_code == 301 and page["Location"].startswith("https://")
    assert proxied.status_code == 200
    assert health.status_code != 301 and "Location" not in health  # answered, not redirected
