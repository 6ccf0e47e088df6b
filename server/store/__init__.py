"""The store: engine, models, migrations, and the audit writer every feature calls."""
