"""Device simulators: they speak the real wire protocols on pseudo-terminals, for tests and the demo."""
