"""The Textual app: screens, widgets and messages over the UI-free core (the core never imports this package)."""
