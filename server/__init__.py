"""The Rapport web application: a small shell (app factory, CLI, settings, keys, middlewares,
rendering, errors, i18n, clock) and one sub-package per concern — `store`, `staff`,
`casework`, `joining`, `records`, `privacy`, `recordings` — each with its own routes.
See docs/architecture.md for what each may import."""
