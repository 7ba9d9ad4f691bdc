"""The FastAPI service: app factory, lifespan, dependencies, routers and HTTP schemas."""
