"""The edge agent: passages -> policy -> verdict -> outbox -> MQTT, and the staff's kiosk page.

The agent knows verdicts, not bytes: devices reach it as events from drivers/.
"""
