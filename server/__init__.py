"""The Rapport web application: app factory, settings, store, staff auth, pages, API and CLI."""
