"""Every setting, declared once: the bottom layer that every other layer may import.

* declare.py: `setting()` / `section()` and what is derived from them (validation nodes,
  restart-needed changes, secrets); schema.py: the validation engine; problems.py: what a
  failed check reports.
* mqtt.py, tiktok.py, streamer.py, service.py: the sections of the configuration file;
  names.py: the one set of rules for streamer names and topic prefixes; commands.py: the
  fields of MQTT requests.

Nothing here imports another bridge package (docs/architecture.md, tests/test_layers.py).
"""
