"""KFQMap HTTP server (FastAPI): a thin layer over the kfqmap library.

``server.app.create_app(settings)`` builds the app; ``kfqmap serve`` runs it with uvicorn.
"""
