"""tiktok2mqtt: bridge TikTok LIVE events to MQTT.

Data flow (one package per stage):
    bridge.tiktok  -> bridge.events -> bridge.core -> bridge.mqtt
with bridge.config and bridge.service at the edges, bridge.sim as the local TikTok.
"""

__version__ = "0.1.0"
