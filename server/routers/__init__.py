"""HTTP routers. Each module exports ``router`` and may export ``CONFORMS_TO`` (conformance class URIs)
and ``links(request) -> list[dict]`` (links for the landing page); ``server.app.ROUTERS`` lists them."""
