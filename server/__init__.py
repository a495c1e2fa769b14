"""The web layer's pieces, each small and used by app.py: request/response models and limits,
feedback storage, security headers, server-sent events, answer-to-HTML rendering, startup."""
