"""Every form of a secret is masked; secrets are found in a file that cannot be loaded;
world-readable files holding secrets are reported."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from bridge.service.logging import SecretRedactor
from bridge.service.secrets import exposed_secret_files, secrets_in_text, url_secrets

PASSWORD = "p@ss:w/rd'\\Kx9"
ENCODED = "p%40ss%3Aw%2Frd%27%5CKx9"
PROXY = f"socks5://px-user:{ENCODED}@proxy.lan:1080"


def masked(redactor: SecretRedactor, text: str) -> str:
    record = logging.LogRecord("t", logging.DEBUG, __file__, 1, "%s", (text,), None)
    redactor.filter(record)
    return record.getMessage()


def test_every_form_of_a_proxy_password_is_masked() -> None:
    redactor = SecretRedactor(url_secrets(PROXY))
    token = base64.b64encode(f"px-user:{PASSWORD}".encode()).decode()
    lines = [
        f"proxy {PROXY}",  # as configured
        f"auth=(b'px-user', {PASSWORD.encode()!r})",  # httpcore's SOCKS trace
        f"password {PASSWORD!r} / {PASSWORD}",  # decoded, str repr
        f"Proxy-Authorization: Basic {token}",  # an HTTP proxy's header
        f'{{"password": "{ENCODED}"}}',
    ]
    for line in lines:
        out = masked(redactor, line)
        assert "p@ss" not in out and "p%40ss" not in out and token not in out, out


def test_secrets_in_a_file_that_does_not_load() -> None:
    text = (
        "mqtt:\n  password: 'hunter2-xyz'   # a comment\n"
        "tiktok:\n  proxy: socks5://user:pa/ss-Qq@host:1080\n"
        "  sign_server:\n    api_key: !secret sign_key\n"
        "streamers: [alice]\n"
    )
    found = secrets_in_text(text)
    assert "hunter2-xyz" in found
    assert "pa/ss-Qq" in found  # a '/' left unencoded: urlsplit alone would miss it
    assert not any("sign_key" in s for s in found)  # a reference is not the secret
    redactor = SecretRedactor(found)
    assert "pa/ss-Qq" not in masked(redactor, "proxy: 'socks5://user:pa/ss-Qq@host:1080' bad")


def test_world_readable_files_holding_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("mqtt:\n  password: hunter2-xyz\n")
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text("mqtt_password: other\n")
    cfg.chmod(0o600)
    secrets_file.chmod(0o640)
    assert list(exposed_secret_files(cfg, ["hunter2-xyz"])) == []
    cfg.chmod(0o644)
    secrets_file.chmod(0o644)
    assert list(exposed_secret_files(cfg, ["hunter2-xyz"])) == [cfg, secrets_file]
    # A readable file without a secret written in it is fine.
    assert list(exposed_secret_files(cfg, ["from-env-only"])) == [secrets_file]
