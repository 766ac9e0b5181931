"""The web layer: app factory, middleware, shared templates and static assets, error pages."""
