"""The HTTP service: the Outlook add-in's API, its static files, and (later) managers' pages.

``web.app.create_app`` builds the FastAPI application from settings and a
session factory; ``mailsync serve`` and ``mailsync run`` start it with uvicorn.
web reads and writes only through crm_store and asks rules for matches; it
never talks to Graph or EWS.
"""
