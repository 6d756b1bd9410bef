"""The staff's kiosk page, served by the agent on localhost for the box's touchscreen."""
